"""`launcher status`, `launcher logs`: read only the journal and the artifact files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio

from launcher.app.context import open_journal, state_dir
from launcher.app.report import build_report
from launcher.errors import RunNotFound, UsageProblem
from launcher.git.repo import GitRepo
from launcher.models.ids import task_id_problem
from launcher.models.report import RunReport
from launcher.store.files import RunFiles


async def run_report(cwd: Path, run_id: str | None) -> RunReport:
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    run_id = run_id or journal.latest_run_id()
    if run_id is None:
        raise RunNotFound("there are no runs yet", fix="start one with `launcher run PLAN`")
    return build_report(journal, run_id, repo.root)


async def list_runs(cwd: Path, limit: int = 20) -> list[RunReport]:
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    return [build_report(journal, run.id, repo.root) for run in journal.runs(limit)]


async def log_path(cwd: Path, run_id: str, task_id: str) -> Path:
    problem = task_id_problem(task_id)
    if problem:
        raise UsageProblem(problem, fix="pass a task id as shown by `launcher status`")
    repo = await GitRepo.discover(cwd)
    open_journal(repo).task(run_id, task_id)  # raises a clear error for unknown ids
    return RunFiles(state_dir(repo), run_id).run_dir / task_id / "agent.log"


async def follow(path: Path, write: Callable[[str], None], done: Callable[[], bool]) -> None:
    """Print the log, then what is appended, until `done()` says the task has finished."""
    offset = 0
    while True:
        if path.exists():
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
                offset += len(chunk)
            if chunk:
                write(chunk.decode("utf-8", "replace"))
        if done():
            return
        await anyio.sleep(0.3)
