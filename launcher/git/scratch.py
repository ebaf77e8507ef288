"""The launcher's own scratch worktrees of a run, under `<worktree root>/<run>/`:
`_integration/<commit>`, where the integration check runs on a merge result, and
`_grading/<task>-<round>`, where a grader looks at the graded commit. Each is removed when its
check or grading ends; only a launcher killed meanwhile leaves one, and none holds anybody's
work (a checkout of a commit that exists elsewhere)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from launcher.git import tree_trash, worktrees
from launcher.git.repo import GitRepo

ALL = (worktrees.INTEGRATION, worktrees.GRADING)


async def remove_scratch(repo: GitRepo, run_dir: Path, kinds: tuple[str, ...] = ALL) -> list[str]:
    """Remove the run's scratch trees of `kinds`, registered with git or not; the paths removed.
    Call it only while none of the run's checks or gradings runs (the run's claim is held)."""
    dirs = [(run_dir / kind).resolve() for kind in kinds]
    removed: list[str] = []
    for info in await worktrees.list_worktrees(repo):
        if any(info.path.resolve().is_relative_to(d) for d in dirs):
            await worktrees.remove_worktree(repo, info.path)
            if not info.path.exists():
                removed.append(str(info.path))
    for d in (d for d in dirs if d.is_dir()):
        for child in sorted(d.iterdir()):  # a directory git no longer lists
            if tree_trash.remove_dir(child) is None:  # else said by `launcher clean` (run_leftovers)
                removed.append(str(child))
        with contextlib.suppress(OSError):
            d.rmdir()
    return removed
