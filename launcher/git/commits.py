"""Commits on task branches: leftovers the agent did not commit, and rescue of partial work."""

from __future__ import annotations

from pathlib import Path

from launcher.errors import GitFailed
from launcher.git.repo import GitRepo


def with_trailers(message: str, trailers: dict[str, str]) -> str:
    lines = "\n".join(f"{key}: {value}" for key, value in trailers.items())
    return f"{message.rstrip()}\n\n{lines}\n"


async def head_of(repo: GitRepo, worktree: Path) -> str:
    return (await repo.git("rev-parse", "HEAD", cwd=worktree)).out.strip()


async def commit_pending(
    repo: GitRepo, worktree: Path, message: str, trailers: dict[str, str]
) -> bool:
    """Commit everything the agent left uncommitted (ignored files stay out); True if it did."""
    await repo.git("add", "-A", cwd=worktree)
    done = await repo.git(
        "commit", "-q", "--no-verify", "-m", with_trailers(message, trailers), cwd=worktree, check=False
    )
    if done.ok:
        return True
    if "nothing to commit" in done.out + done.err or "nothing added to commit" in done.out + done.err:
        return False
    raise GitFailed(
        f"`git commit` failed in {worktree}: {(done.err or done.out).strip()}", where=str(worktree),
        fix="see the git message; the agent's work is still in the worktree",
    )


async def rescue_uncommitted(repo: GitRepo, worktree: Path, ref: str) -> str | None:
    """Save a dead agent's uncommitted work under `ref`, then clean the tree for a re-run.

    Nothing is lost: the work stays reachable from `ref` (and is listed in the journal).
    """
    await repo.git("add", "-A", cwd=worktree)
    stash = (await repo.git("stash", "create", "launcher: interrupted work", cwd=worktree)).out.strip()
    if not stash:
        return None
    async with repo.lock.hold():
        await repo.git("update-ref", ref, stash)
    await repo.git("reset", "-q", "--hard", "HEAD", cwd=worktree)
    await repo.git("clean", "-q", "-fd", cwd=worktree)  # no -x: include-copied files stay
    return stash


async def reset_to(repo: GitRepo, worktree: Path, commit: str) -> None:
    """Put a worktree back to `commit`: tracked files as committed, no untracked file left.
    Ignored files stay (no -x): include copies, virtualenvs, build caches."""
    async with repo.lock.hold():
        await repo.git("reset", "-q", "--hard", commit, cwd=worktree)
    await repo.git("clean", "-q", "-fd", cwd=worktree)
