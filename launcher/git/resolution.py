"""A conflict handed back to its author: merge the target into the task's own worktree and
commit the result with the conflict markers in it, so the agent's next round starts from the
conflict (and a resumed launcher, which saves and cleans uncommitted work, cannot lose it).
The landing refuses the branch until no added line is a marker (`git.markers`)."""

from __future__ import annotations

from pathlib import Path

from launcher.errors import GitFailed
from launcher.git import commits
from launcher.git.repo import GitRepo


async def merge_leaving_markers(repo: GitRepo, worktree: Path, tip: str, message: str,
                                trailers: dict[str, str]) -> tuple[str, list[str]]:
    """Merge `tip` into the worktree's branch, committing markers as they are: (new head,
    the files left with conflicts)."""
    await repo.git("merge", "--abort", cwd=worktree, check=False)  # a crashed attempt's leftovers
    merged = await repo.git("merge", "--no-ff", "--no-commit", tip, cwd=worktree, check=False)
    unmerged = await repo.git("diff", "--name-only", "--diff-filter=U", "-z", cwd=worktree, check=False)
    files = sorted({p for p in unmerged.out.split("\0") if p})
    if not merged.ok and not files:
        raise GitFailed(f"`git merge {tip[:12]}` failed in {worktree}: {(merged.err or merged.out).strip()}",
                        where=str(worktree), fix="look at the worktree; the task's branch is unchanged")
    await commits.commit_pending(repo, worktree, message, trailers)
    return await commits.head_of(repo, worktree), files
