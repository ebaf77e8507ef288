"""What a run leaves in the repository, removed by `launcher clean` (and by a run's own end):
its worktrees under `<root>/<run>/`, its `launcher/<run>/*` branches and the refs it saved under
`refs/launcher/<run>/`, each named in the report with what it held; what the caller keeps
(a branch with work nobody landed, a worktree with uncommitted files) stays, with the reason."""

from __future__ import annotations

from pathlib import Path

from launcher.errors import UsageProblem
from launcher.git.repo import GitRepo
from launcher.git.tree_trash import remove_dir
from launcher.git.worktrees import (
    BRANCH_PREFIX,
    delete_branch_locked,
    forget,
    is_under,
    list_launcher_branches,
    list_worktrees,
    remove_locked,
    same_path,
)


def _check_run_id(run_id: str) -> None:
    if not run_id or "/" in run_id or run_id in {".", ".."} or any(c in run_id for c in "*?["):
        raise UsageProblem(f"invalid run id {run_id!r}", fix="pass a run id from `launcher runs`")


def _saved_ref_kind(ref: str) -> str:
    """What a ref under `refs/launcher/<run>/` holds, by the place it was saved at."""
    if "/failed-" in ref:  # app/run/retry.py keeps a retried task's earlier attempt there
        return "an earlier attempt, before --retry-failed"
    if "/moved/" in ref:  # app/run/containment.py: what an agent set on a shared ref, put back
        return "what an agent set on a shared ref, which the launcher put back"
    if "/_deleted/" in ref:
        return "the last commit of a branch made and deleted during the run"
    if ref.endswith("/not-selected"):  # app/run/best_of.py: an attempt another one beat
        return "a best-of-N attempt that was not selected"
    if ref.endswith("/idle-head"):  # app/run/containment.py: an idle task's recorded commit
        return "the commit a task's worktree was last recorded at"
    return "an interrupted agent's partial work"


async def remove_run_leftovers(
    repo: GitRepo, root: Path, run_id: str, keep: dict[str, str] | None = None,
    keep_trees: dict[Path, str] | None = None,
) -> list[str]:
    """Remove every worktree under `root/run_id`, every `launcher/<run_id>/*` branch and every
    `refs/launcher/<run_id>/` ref except those in `keep` (branch name or full ref -> the line
    saying why it stays) and the worktrees in `keep_trees` (path -> that line; their branches
    stay with them)."""
    keep = dict(keep or {})
    kept_trees = {path.resolve(): line for path, line in (keep_trees or {}).items()}
    _check_run_id(run_id)
    run_dir = root / run_id
    prefix = f"{BRANCH_PREFIX}/{run_id}/"
    removed: list[str] = []
    async with repo.lock.hold():
        infos = await list_worktrees(repo)
        # The checkout the launcher runs in (the repository's main work tree or a linked one)
        # and the repository's main work tree (listed first; a bare repository's own entry) are
        # never removed.
        main = next((info for info in infos if same_path(info.path, repo.root)), None)
        for info in infos[1:]:
            if info is main:
                continue
            # Also a worktree elsewhere holding one of the run's branches: it blocks deletion.
            ours = is_under(info.path, run_dir) or (info.branch or "").startswith(prefix)
            if ours and info.path.resolve() in kept_trees:
                if info.branch:
                    keep.setdefault(info.branch, f"kept branch {info.branch}: checked out in a kept worktree")
                continue
            left: list[str] = []
            if ours and await remove_locked(repo, info.path, left):
                removed.append(f"worktree {info.path}")
            removed += left  # what could not be deleted: said, with how, and found again next time
            if ours:
                await forget(repo, info.path)
        removed += list(kept_trees.values())
        if run_dir.is_dir() and not kept_trees and (problem := remove_dir(run_dir)) is None:
            removed.append(f"directory {run_dir}")  # unregistered leftovers of the run
        elif run_dir.is_dir():
            # What could not be deleted is said, each tree once, never as removed.
            for child in sorted(run_dir.iterdir()):
                if child.resolve() not in kept_trees:
                    if (problem := remove_dir(child)) is None:
                        removed.append(f"directory {child}")
                    elif not any(line.startswith(f"kept {child}: ") for line in removed):
                        removed.append(problem)
        for branch in await list_launcher_branches(repo, run_id):
            if main is not None and main.branch == branch:
                removed.append(f"kept branch {branch}: checked out in the main work tree")
                continue
            if branch in keep:
                removed.append(keep[branch])
                continue
            if await delete_branch_locked(repo, branch):
                removed.append(f"branch {branch}")
        saved = await repo.git("for-each-ref", "--format=%(refname)", f"refs/{BRANCH_PREFIX}/{run_id}/")
        for ref in saved.out.split():
            if ref in keep:
                removed.append(keep[ref])
                continue
            await repo.git("update-ref", "-d", ref)
            removed.append(f"ref {ref} ({_saved_ref_kind(ref)})")
    return removed
