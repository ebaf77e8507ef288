"""TECHNICAL_DEBT.md rows and LESSONS.md dedupe."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from launcher.gates.ledgers import (
    TECH_DEBT_HEADER,
    add_lesson,
    add_tech_debt,
    existing_lessons,
    normalize_lesson,
    tech_debt_rows,
)

DAY = dt.date(2025, 3, 14)


def test_tech_debt_file_is_created_with_its_table_and_one_row(tmp_path: Path) -> None:
    row = add_tech_debt(tmp_path, run_id="r-20250314-101500-ab12", task_id="api-login",
                        failing=["C2", "B4"], note="ship now; tests follow in | sprint 12\nsee chat", date=DAY)
    assert row == (
        "| 2025-03-14 | `r-20250314-101500-ab12` | `api-login` | C2, B4 "
        "| ship now; tests follow in \\| sprint 12 see chat |"
    )
    text = (tmp_path / "TECHNICAL_DEBT.md").read_text()
    assert text == TECH_DEBT_HEADER + row + "\n"
    assert "| Date | Run | Task | Criteria failing | Note |\n|---|---|---|---|---|\n" in text


def test_tech_debt_rows_append_inside_an_existing_table(tmp_path: Path) -> None:
    add_tech_debt(tmp_path, run_id="r-1", task_id="a", failing=["C7"], note="first", date=DAY)
    path = tmp_path / "TECHNICAL_DEBT.md"
    path.write_text(path.read_text() + "\n## Notes written by people\n\nKeep this paragraph.\n")
    add_tech_debt(tmp_path, run_id="r-2", task_id="b", failing=[], note="second", date=DAY)
    lines = path.read_text().splitlines()
    first = lines.index("| 2025-03-14 | `r-1` | `a` | C7 | first |")
    assert lines[first + 1] == "| 2025-03-14 | `r-2` | `b` | - | second |"
    assert lines[-1] == "Keep this paragraph."


def test_tech_debt_table_is_added_to_a_file_without_one(tmp_path: Path) -> None:
    (tmp_path / "TECHNICAL_DEBT.md").write_text("# Debt\n\nOur own notes.\n")
    add_tech_debt(tmp_path, run_id="r-9", task_id="ui", failing=["F1"], note="n", date=DAY)
    text = (tmp_path / "TECHNICAL_DEBT.md").read_text()
    assert text.startswith("# Debt\n\nOur own notes.\n\n| Date | Run |")
    assert text.endswith("| 2025-03-14 | `r-9` | `ui` | F1 | n |\n")


def test_a_decision_whose_row_is_already_there_is_not_written_twice(tmp_path: Path) -> None:
    # `rows_before`: the rows earlier (journaled) decisions of this run's task account for.
    assert add_tech_debt(tmp_path, run_id="r-1", task_id="a", failing=[], note="first", rows_before=0, date=DAY)
    add_tech_debt(tmp_path, run_id="r-1", task_id="b", failing=[], note="other task", date=DAY)
    assert add_tech_debt(tmp_path, run_id="r-1", task_id="a", failing=[], note="again", rows_before=0) is None
    assert add_tech_debt(tmp_path, run_id="r-2", task_id="a", failing=[], note="other run", rows_before=0)
    assert add_tech_debt(tmp_path, run_id="r-1", task_id="a", failing=[], note="retried", rows_before=1)
    assert tech_debt_rows(tmp_path, "r-1", "a") == 2 and tech_debt_rows(tmp_path, "r-1", "b") == 1
    notes = [line.split("|")[5].strip() for line in (tmp_path / "TECHNICAL_DEBT.md").read_text().splitlines()
             if line.startswith("| 2")]
    assert notes == ["first", "other task", "other run", "retried"]


def test_normalised_lesson_ignores_case_whitespace_and_punctuation() -> None:
    assert normalize_lesson("  Never mock what you DON'T own!  ") == normalize_lesson("never mock what you dont own")
    assert normalize_lesson("Use `tmp_path`,\n  not /tmp.") == "usetmppathnottmp"
    assert normalize_lesson("well-known ports") == normalize_lesson("Well known ports.")
    assert normalize_lesson("Pin versions") != normalize_lesson("Pin the versions")


def test_lessons_are_appended_once(tmp_path: Path) -> None:
    assert add_lesson(tmp_path, "Never mock what you do not own.") is True
    assert add_lesson(tmp_path, "never   MOCK what you do not own") is False
    assert add_lesson(tmp_path, "Run the\nfull suite before landing.") is True
    assert add_lesson(tmp_path, "run the full suite, before landing!") is False
    text = (tmp_path / "LESSONS.md").read_text()
    assert text.endswith("\n\n- Never mock what you do not own.\n- Run the\n  full suite before landing.\n")
    assert text.count("Never mock") == 1
    assert existing_lessons(text)[-2:] == ["Never mock what you do not own.", "Run the full suite before landing."]


def test_lessons_dedupe_against_a_hand_written_file(tmp_path: Path) -> None:
    (tmp_path / "LESSONS.md").write_text(
        "# Lessons\n\n1. **Boundary mocks** come from real fixtures.\n\n"
        "A paragraph lesson: keep tests\nhermetic.\n"
    )
    assert add_lesson(tmp_path, "Boundary mocks come from real fixtures") is False
    assert add_lesson(tmp_path, "A paragraph lesson - keep tests hermetic") is False
    assert add_lesson(tmp_path, "Boundary mocks") is True  # a prefix is a different lesson
    with pytest.raises(ValueError):
        add_lesson(tmp_path, " ... ")


def test_concurrent_lesson_writers_lose_nothing(tmp_path: Path) -> None:
    threads = [threading.Thread(target=add_lesson, args=(tmp_path, f"Lesson number {i}")) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lessons = existing_lessons((tmp_path / "LESSONS.md").read_text())
    numbered = sorted(x for x in lessons if x.startswith("Lesson number"))
    assert numbered == sorted(f"Lesson number {i}" for i in range(12))
    assert not list(tmp_path.glob(".LESSONS.md.*"))  # no temp file left behind
