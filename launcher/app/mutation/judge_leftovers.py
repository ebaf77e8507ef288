"""For `launcher clean --all`: the checkouts a killed `launcher mutation judge` left.

A judge runs on a read-only checkout of the sweep's base commit (a detached worktree under the
worktree root's `judge/<label>`), or, for a calibration set, on a scratch repository of its own
beside a work directory (`judge/c-<stamp>`, `judge/c-<stamp>-work`). A judge command killed with
-9 removes neither: the checkout stays registered with git, and the worktree root's directory of
the repository is never empty. Removed here unless a live judge holds that label's lock; what a
calibration judge had written in its work directory goes to its record first (`<out_dir>/judge`),
as the judge itself does when it ends.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from launcher.app.context import STATE_DIR
from launcher.gates.judge_lock import judges_held
from launcher.gates.judge_relay import keep_work
from launcher.gates.relay import remove_scratch
from launcher.git import tree_trash
from launcher.git.repo import GitRepo

WORK_SUFFIX = "-work"


async def remove_judge_leftovers(repo: GitRepo, worktree_root: Path) -> list[str]:
    """Remove what killed judges left under `worktree_root/judge`; one line per item removed
    (or left, and why)."""
    folder = worktree_root / "judge"
    if not folder.is_dir():
        return []
    said: list[str] = []
    state = repo.root / STATE_DIR
    with judges_held([state / "mutation-runs", state / "calibration"]) as judges:
        for entry in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()):
            label = entry.name.removesuffix(WORK_SUFFIX) if entry.name.endswith(WORK_SUFFIX) else entry.name
            if label in judges.busy:
                said.append(f"skipped {entry}: a judge of {label} is running")
                continue
            if entry.name.endswith(WORK_SUFFIX) and label in judges.idle and entry.is_dir():
                keep_work(entry, judges.idle[label] / "judge")  # the judge's files, to its record
            await remove_scratch(repo, entry)  # a worktree git knows, else a directory of ours
            if entry.exists() and (problem := tree_trash.remove_dir(entry)) is not None:
                said.append(problem)
                continue
            said.append(f"removed {entry}, the checkout of a killed judge of {label}")
    with contextlib.suppress(OSError):  # empty now: `clean --all --force` can remove the root's directory
        folder.rmdir()
    return said
