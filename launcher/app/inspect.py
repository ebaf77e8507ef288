"""`launcher status`, `launcher logs`: read only the journal and the artifact files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio

from launcher.app.context import open_journal, state_dir
from launcher.app.grading import withdrawal_reason
from launcher.app.report import build_report
from launcher.errors import RunNotFound, UsageProblem
from launcher.git.repo import GitRepo
from launcher.models.ids import task_id_problem
from launcher.models.report import RunReport
from launcher.models.states import TaskState
from launcher.store.files import RunFiles
from launcher.store.journal import Journal


async def run_report(cwd: Path, run_id: str | None) -> RunReport:
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    run_id = run_id or journal.latest_run_id()
    if run_id is None:
        raise RunNotFound("there are no runs yet", fix="start one with `launcher run PLAN`")
    report = build_report(journal, run_id, repo.root)
    await mark_withdrawn_approvals(repo, journal, report)
    return report


async def mark_withdrawn_approvals(repo: GitRepo, journal: Journal, report: RunReport) -> None:
    """An approved task whose branch changed since says so: its approval no longer holds."""
    for task in report.tasks:
        if task.state == TaskState.APPROVED.value:
            row = journal.task(report.run_id, task.id)
            task.approval_withdrawn = await withdrawal_reason(repo, row, report.base_sha)


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
