"""What the queue judges in a fold is judged again against what really landed: a task that
conflicted only with a culprit that was then rejected lands on the real tip, and tasks held
back because the check failed on the tip itself are folded again once a later fold made the
tip pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, run_plan, task

CHECK = "! grep -rq BAD --include=*.py --include=*.txt ."


def _same_line(task_id: str, comment: str) -> dict[str, object]:
    return {"id": task_id, "script": [{"replace": "app.py", "old": "return a + b",
                                       "new": f"return a + b  # {comment}"}]}


@pytest.mark.parametrize("cap", [1, 3])
def test_a_task_that_conflicts_only_with_a_rejected_culprit_lands(repo: Path, cap: int) -> None:
    report = run_plan(repo, [_same_line("x", "BAD"), _same_line("y", "fine")],
                      integration_check=CHECK, iteration_cap=cap)

    assert task(report, "y").state == "merged", task(report, "y").message
    assert report.queue.culprits == ["x"]
    # At the cap it fails; with rounds left, its revision round starts from main, which holds y
    # on the same line: this agent leaves that conflict's markers, so it never lands either.
    assert task(report, "x").state == "failed"
    assert "return a + b  # fine" in (repo / "app.py").read_text()
    assert "BAD" not in git(repo, "show", "main:app.py")


def test_a_conflict_with_work_that_landed_is_still_a_conflict(repo: Path) -> None:
    report = run_plan(repo, [_same_line("x", "first"), _same_line("y", "second")],
                      integration_check=CHECK)

    assert {t.id: t.state for t in report.tasks} == {"x": "merged", "y": "conflicted"}
    assert "conflicts with main in app.py" in task(report, "y").message


def _broken_target(repo: Path) -> None:
    (repo / "files").mkdir()
    (repo / "files" / "base.txt").write_text("BAD\n")
    git(repo, "add", "files")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a broken target")


def test_tasks_held_back_by_a_failing_target_land_once_a_fold_fixed_it(repo: Path) -> None:
    _broken_target(repo)
    report = run_plan(repo, [
        {"id": "innocent", "script": [{"write": "files/notes.txt", "content": "notes\n"}]},
        {"id": "after", "depends_on": ["innocent"],
         "script": [{"write": "files/more.txt", "content": "more\n"}]},
        {"id": "fixer", "script": [{"write": "files/base.txt", "content": "fixed\n"}]},
        {"id": "breaker", "script": [{"write": "files/new.txt", "content": "BAD\n"}]},
    ], integration_check=CHECK, iteration_cap=1)

    states = {t.id: t.state for t in report.tasks}
    assert states == {"innocent": "merged", "after": "merged", "fixer": "merged",
                      "breaker": "failed"}, [t.message for t in report.tasks]
    assert report.queue.culprits == ["breaker"]
    assert "fails on main" not in report.message and "itself" not in report.message
    assert (repo / "files" / "notes.txt").exists() and (repo / "files" / "more.txt").exists()


def test_a_combination_culprit_is_found_once_the_target_was_fixed(repo: Path) -> None:
    """Two tasks that fail only together on a target fixed by one of them: the other is blamed
    on the fixed target, not left approved behind a "fix main" that main does not need."""
    _broken_target(repo)
    report = run_plan(repo, [
        {"id": "other", "script": [{"write": "files/a.txt", "content": "B"}]},
        {"id": "fixer", "script": [{"write": "files/base.txt", "content": "AD\n"}]},
    ], integration_check="! cat files/*.txt | tr -d '\\n' | grep -q BAD", iteration_cap=1)

    assert {t.id: t.state for t in report.tasks} == {"other": "failed", "fixer": "merged"}, \
        [t.message for t in report.tasks]
    assert report.queue.culprits == ["other"]
    assert "fails on main" not in report.message
