"""A linked worktree's administrative directory (`<common git dir>/worktrees/<name>`, named by its
`.git` file) and the lock git keeps there (`git worktree lock`): a task's worktree is locked
while its agent runs, so that no `git worktree prune` drops it."""

from __future__ import annotations

import os
from pathlib import Path

from launcher.errors import GitFailed
from launcher.git.repo import GitRepo
from launcher.regular_files import read_regular


async def lock_cmd(repo: GitRepo, args: list[str], benign: str) -> None:
    """`git worktree ARGS` (lock, unlock), where the error saying `benign` is no failure."""
    result = await repo.git("worktree", *args, check=False)
    if not result.ok and benign not in result.err:
        raise GitFailed(
            f"`git worktree {' '.join(args)}` failed: {result.err.strip()}",
            where=str(repo.root),
            fix="check `git worktree list`; `launcher clean` removes leftovers of a run",
        )


def admin_dir(path: Path) -> Path | None:
    """The worktree's administrative directory (`.git/worktrees/<name>`), from its `.git` file."""
    try:
        # The worktree is an agent's: its `.git` may be a FIFO or a link to a device.
        text = os.fsdecode(read_regular(path / ".git", 64 * 1024))  # a path: its bytes as they are
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    admin = Path(text.removeprefix("gitdir:").strip())
    return admin if admin.is_absolute() else (path / admin).resolve()


async def lock_worktree(repo: GitRepo, path: Path, reason: str) -> None:
    """Mark the worktree locked, exactly as `git worktree lock --reason` does: a `locked` file
    holding the reason in its admin directory. Writing it directly spares a git process and a
    wait on the repository lock per agent round (it is per-worktree state, nothing shared)."""
    admin = admin_dir(path)
    if admin is None or not admin.is_dir():
        async with repo.lock.hold():
            await lock_cmd(repo, ["lock", "--reason", reason, str(path)], "already locked")
        return
    locked = admin / "locked"
    if not locked.exists():  # like git: an existing lock and its reason stay
        locked.write_text(reason, encoding="utf-8")


async def unlock_worktree(repo: GitRepo, path: Path) -> None:
    admin = admin_dir(path)
    if admin is not None and not admin.is_dir() and path.is_dir():
        raise GitFailed(
            f"the worktree's git metadata ({admin}) was removed while its agent ran: git no longer "
            "knows this worktree, so its work cannot be committed to the task's branch; its files "
            "are left as they are",
            where=str(path),
            fix=f"copy what you want from {path}; a plain `launcher clean` keeps that directory, "
                "`launcher clean --force` removes it",
        )
    if admin is None or not admin.is_dir():
        async with repo.lock.hold():
            await lock_cmd(repo, ["unlock", str(path)], "not locked")
        return
    (admin / "locked").unlink(missing_ok=True)
