"""`launcher lessons add`: the repository's LESSONS.md, appended with normalised dedupe."""

from __future__ import annotations

from pathlib import Path

from launcher.errors import UsageProblem
from launcher.gates.ledgers import add_lesson
from launcher.git.repo import GitRepo


async def add_lesson_here(cwd: Path, text: str) -> tuple[bool, Path]:
    if not text.strip():
        raise UsageProblem("the lesson is empty", fix='launcher lessons add "what we learned"')
    repo = await GitRepo.discover(cwd)
    return add_lesson(repo.root, text), repo.root / "LESSONS.md"
