"""Warm worktrees: N detached worktrees kept ready at the base commit under the worktree root,
so that a run *takes* one (`git worktree move` + `checkout -B`) instead of paying for a
`git worktree add` (a full checkout) per task. `launcher pool warm N` or `[run] warm_pool = N`
fills the pool; `launcher clean --all` empties it.

A pool worktree is taken only for a brand-new branch: an existing branch (a resumed task's)
goes the usual way, so no work is ever reset by `checkout -B`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from launcher.git import worktrees
from launcher.git.repo import GitRepo

POOL_DIR = "_pool"  # under the worktree root, next to the per-run directories


def pool_root(worktree_root: Path) -> Path:
    return worktree_root / POOL_DIR


async def ready(repo: GitRepo, worktree_root: Path) -> list[worktrees.WorktreeInfo]:
    """The pool's usable worktrees: registered, detached, present and unlocked."""
    root = pool_root(worktree_root).resolve()
    return sorted(
        (info for info in await worktrees.list_worktrees(repo)
         if info.path.resolve().parent == root and info.detached
         and not info.prunable and not info.locked and info.path.is_dir()),
        key=lambda info: info.path.name,
    )


async def warm(repo: GitRepo, worktree_root: Path, count: int, base: str = "HEAD") -> list[Path]:
    """Top the pool up to `count` worktrees detached at `base`; return the new ones."""
    sha = await repo.rev_parse(base)
    created: list[Path] = []
    root = pool_root(worktree_root)
    async with repo.lock.hold():
        have = len(await ready(repo, worktree_root))
        root.mkdir(parents=True, exist_ok=True)
        for _ in range(max(0, count - have)):
            path = root / f"w{os.getpid()}-{os.urandom(3).hex()}"
            await repo.git("worktree", "add", "--quiet", "--detach", str(path), sha)
            created.append(path)
    return created


async def take(repo: GitRepo, worktree_root: Path, *, path: Path, branch: str, start: str) -> bool:
    """Turn a pool worktree into `path` on a new `branch` at `start`; False if there is none
    to take (or the branch already exists), and the caller creates the worktree as usual."""
    path = path.absolute()
    async with repo.lock.hold():
        if path.exists() or await repo.branch_exists(branch):
            return False
        for info in await ready(repo, worktree_root):
            path.parent.mkdir(parents=True, exist_ok=True)
            moved = await repo.git("worktree", "move", str(info.path), str(path), check=False)
            if not moved.ok:
                continue  # another process's pool entry went away meanwhile: try the next
            switched = await repo.git("checkout", "--quiet", "--force", "--no-track", "-B", branch, start,
                                      cwd=path, check=False)
            if switched.ok:
                return True
            await repo.git("worktree", "remove", "--force", "--force", str(path), check=False)
            return False
    return False


async def drain(repo: GitRepo, worktree_root: Path) -> list[str]:
    """Remove every pool worktree (and the pool directory)."""
    root = pool_root(worktree_root)
    removed: list[str] = []
    async with repo.lock.hold():
        resolved = root.resolve()
        for info in await worktrees.list_worktrees(repo):
            if info.path.resolve().parent == resolved:
                await repo.git("worktree", "remove", "--force", "--force", str(info.path), check=False)
                removed.append(f"removed warm worktree {info.path}")
        await repo.git("worktree", "prune")
    if root.is_dir():
        shutil.rmtree(root, ignore_errors=True)
    return removed
