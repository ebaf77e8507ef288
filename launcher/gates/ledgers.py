"""The repository's ledgers: TECHNICAL_DEBT.md (one table row per tech-debt choice) and LESSONS.md
(lessons appended once: a lesson that differs only in case, whitespace or punctuation is a
duplicate). Writes are atomic, and serialised across processes by a lock on the directory."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path

from launcher.errors import UsageProblem
from launcher.models.decoding import read_text
from launcher.store.files import atomic_write_text

TECH_DEBT_FILE = "TECHNICAL_DEBT.md"
LESSONS_FILE = "LESSONS.md"
TECH_DEBT_COLUMNS = ("Date", "Run", "Task", "Criteria failing", "Note")
TECH_DEBT_HEADER = (
    "# Technical debt\n\n"
    "Work that did not satisfy its rubric and was closed without landing (`launcher choose RUN TASK "
    "tech-debt --note TEXT`). One row per decision; the task's branch is kept for a later attempt.\n\n"
    "| " + " | ".join(TECH_DEBT_COLUMNS) + " |\n"
    "|" + "---|" * len(TECH_DEBT_COLUMNS) + "\n"
)
LESSONS_HEADER = "# Lessons\n\nWhat past runs taught us. Graders read this file; one lesson per item.\n\n"
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?P<text>.*)$")


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """flock on the directory itself: no lock file is left in the user's repository."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _ledger_text(path: Path, header: str) -> str:
    """A ledger's text before a row or lesson is added (`header` when there is no file yet).
    It is rewritten whole, so a file that cannot be read exactly (not UTF-8, not a regular file,
    unreadable) is refused, never rewritten with its bytes replaced."""
    if not path.exists() and not path.is_symlink():
        return header
    if not path.is_file():
        what = "a directory" if path.is_dir() else "not a regular file"
        raise UsageProblem(f"{path.name} is {what}", where=str(path),
                           fix=f"move it aside; the launcher then writes a new {path.name}",
                           error_key="ledger_unreadable")  # fmt: skip
    try:
        return read_text(path)
    except OSError as exc:
        raise UsageProblem(f"cannot read {path.name}: {exc.strerror or exc}", where=str(path),
                           fix=f"save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 {path.name} > tmp && "
                               f"mv tmp {path.name}) or make it readable; it was not changed",
                           error_key="ledger_unreadable") from None  # fmt: skip


def lessons_for_grader(repo_root: Path) -> tuple[str | None, str | None]:
    """LESSONS.md as a grader reads it, and a note when it could not be read as it is: bytes that
    are not UTF-8 are replaced (U+FFFD), an unreadable file counts as none. Nothing is written."""
    path = repo_root / LESSONS_FILE
    if not path.is_file():
        return None, None
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"{LESSONS_FILE} not given to the grader: cannot read it ({exc.strerror or exc})"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        note = (f"{LESSONS_FILE} is not UTF-8 (byte {exc.start} is 0x{data[exc.start]:02x}): the grader "
                "got it with such bytes replaced; save it as UTF-8")
        return data.decode("utf-8", "replace"), note


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|") or "-"


def tech_debt_row(*, date: dt.date, run_id: str, task_id: str, failing: Sequence[str], note: str) -> str:
    cells = [date.isoformat(), f"`{run_id}`", f"`{task_id}`", ", ".join(failing) or "-", note]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _insert_row(text: str, row: str) -> str:
    """After the last row of the ledger's table; a new table at the end if the file has none."""
    lines = text.split("\n")
    header = "| " + " | ".join(TECH_DEBT_COLUMNS) + " |"
    start = next((i for i, line in enumerate(lines) if line.strip() == header), None)
    if start is None:
        table = TECH_DEBT_HEADER.split("\n\n", 2)[2]
        return text.rstrip("\n") + "\n\n" + table + row + "\n"
    end = start + 1
    while end < len(lines) and lines[end].lstrip().startswith("|"):
        end += 1
    lines.insert(end, row)
    return "\n".join(lines)


def _rows_of(text: str, run_id: str, task_id: str) -> int:
    """How many rows of the ledger's text are for this run's task."""
    cells = (f"`{run_id}`", f"`{task_id}`")
    return sum(1 for line in text.split("\n") if line.lstrip().startswith("|")
               and tuple(part.strip() for part in line.split("|")[2:4]) == cells)


def tech_debt_rows(repo_root: Path, run_id: str, task_id: str) -> int:
    """The rows TECHNICAL_DEBT.md holds for this run's task (0 without a readable ledger)."""
    try:
        return _rows_of(read_text(repo_root / TECH_DEBT_FILE), run_id, task_id)
    except OSError:
        return 0


def add_tech_debt(
    repo_root: Path, *, run_id: str, task_id: str, failing: Sequence[str], note: str,
    date: dt.date | None = None, rows_before: int | None = None,
) -> str | None:
    """Append one row to TECHNICAL_DEBT.md (created with its header table if missing); returns it.

    `rows_before`: how many rows of this run's task earlier decisions account for. A row beyond
    them is this decision's, written by a launcher stopped before it journaled the decision:
    nothing is appended again (None)."""
    row = tech_debt_row(date=date or dt.date.today(), run_id=run_id, task_id=task_id, failing=failing, note=note)
    path = repo_root / TECH_DEBT_FILE
    with _locked(repo_root):
        text = _ledger_text(path, TECH_DEBT_HEADER)
        if rows_before is not None and _rows_of(text, run_id, task_id) > rows_before:
            return None
        text = _insert_row(text, row).rstrip("\n") + "\n"
        atomic_write_text(path, text)  # recorded as a launcher's write (store/own_files.py)
    return row


def normalize_lesson(text: str) -> str:
    """The dedupe key: case folded, and every space, punctuation mark and symbol dropped, so
    "Don't mock", "dont  mock!" and "don't-mock" are one lesson."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and unicodedata.category(ch)[0] not in "PSZC")


def existing_lessons(text: str) -> list[str]:
    """The lessons of a LESSONS.md: list items (with their continuation lines) and paragraphs."""
    entries: list[list[str]] = []
    current: list[str] | None = None
    in_fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        item = None if in_fence else _ITEM.match(line)
        if item:
            current = [item["text"]]
            entries.append(current)
        elif not line.strip() or line.lstrip().startswith("#"):
            current = None
        elif current is not None:
            current.append(line)
        else:
            current = [line]
            entries.append(current)
    joined = (" ".join(line.strip() for line in entry).strip() for entry in entries)
    return [text for text in joined if text]


def add_lesson(repo_root: Path, lesson: str) -> bool:
    """Append a lesson to LESSONS.md unless an equivalent one is there; True if it was added."""
    lesson = lesson.strip()
    key = normalize_lesson(lesson)
    if not key:
        raise ValueError("a lesson needs some text")
    path = repo_root / LESSONS_FILE
    with _locked(repo_root):
        text = _ledger_text(path, LESSONS_HEADER)
        if any(normalize_lesson(old) == key for old in existing_lessons(text)):
            return False
        first, *rest = lesson.splitlines()
        item = "\n".join([f"- {first}", *(f"  {line}" if line.strip() else "" for line in rest)])
        body = text.rstrip("\n")
        last = body.split("\n")[-1]
        separator = "" if _ITEM.match(last) or last.startswith("  ") else "\n"  # continue an existing list
        text = body + "\n" + separator + item + "\n"
        atomic_write_text(path, text)  # recorded as a launcher's write (store/own_files.py)
    return True
