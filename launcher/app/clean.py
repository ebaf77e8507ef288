"""`launcher clean [RUN] [--all]`: remove the worktrees and branches a run left behind."""

from __future__ import annotations

from pathlib import Path

from launcher import process
from launcher.app.context import open_journal
from launcher.errors import UsageProblem
from launcher.git import worktrees
from launcher.git.repo import GitRepo
from launcher.models.config import load_repo_config
from launcher.models.states import RunStatus


async def clean(cwd: Path, run_id: str | None, *, all_runs: bool) -> list[str]:
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    root = worktrees.default_worktree_root(repo, load_repo_config(repo.root).worktree_root)
    if run_id:
        run_ids = [journal.run(run_id).id]
    elif all_runs:
        run_ids = sorted({r.id for r in journal.runs(10_000)} | await _branch_runs(repo))
    else:
        raise UsageProblem("name a run to clean, or pass --all", fix="`launcher status` lists runs")
    removed: list[str] = []
    known = {r.id: r for r in journal.runs(10_000)}
    for rid in run_ids:
        run = known.get(rid)
        if run and run.status is RunStatus.RUNNING and run.launcher_pid and process.pid_alive(run.launcher_pid):
            if run_id:
                raise UsageProblem(f"run {rid} is still running", fix="wait for it to finish first")
            removed.append(f"skipped {rid}: still running")
            continue
        removed += await worktrees.remove_run_leftovers(repo, root, rid)
    removed += await worktrees.reconcile(repo, root)
    return removed


async def _branch_runs(repo: GitRepo) -> set[str]:
    return {b.split("/")[1] for b in await worktrees.list_launcher_branches(repo) if b.count("/") >= 2}
