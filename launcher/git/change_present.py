"""Whether a commit's work is still on a branch whose history was rewritten since.

`git merge-base --is-ancestor` answers for a branch that only moved forward. A branch rewritten
without losing anything (squashed, rebased, a commit below reworded or dropped) no longer holds
the commit itself, yet its tree still has the commit's change: that is found by applying the
change in reverse to the branch's tree, in a scratch index (nothing of the checkout is touched).
A change whose reverse applies is there; one that does not (taken away, or changed beyond
recognition on the same lines since) is not. The commits must still exist (not pruned)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from launcher.git.repo import GitRepo


async def is_ancestor(repo: GitRepo, commit: str, ref: str) -> bool:
    return (await repo.git("merge-base", "--is-ancestor", commit, ref, check=False)).ok


async def change_present(repo: GitRepo, before: str, after: str, ref: str) -> bool:
    """Whether `ref`'s tree holds the change from `before` to `after` (their diff's reverse
    applies to it). False when either commit is gone."""
    diff = await repo.git("diff", "--binary", "--full-index", "--no-renames", "--no-ext-diff", "--no-textconv",
                          before, after, "--", check=False)
    if not diff.ok:
        return False
    if not diff.stdout.strip():
        return True  # nothing to hold
    with tempfile.TemporaryDirectory(prefix="launcher-held-") as scratch:
        index, patch = Path(scratch) / "index", Path(scratch) / "change.patch"
        patch.write_bytes(diff.stdout)
        if not (await repo.git("read-tree", ref, index_file=index, check=False)).ok:
            return False
        applied = await repo.git("apply", "--cached", "--check", "--reverse", str(patch),
                                 index_file=index, check=False)
        return applied.ok


async def commit_held(repo: GitRepo, commit: str, ref: str) -> bool:
    """Whether `ref` holds `commit`'s work: the commit is in its history, or (history rewritten)
    its change against its first parent is in `ref`'s tree."""
    if await is_ancestor(repo, commit, ref):
        return True
    parent = await repo.git("rev-parse", "--verify", "--quiet", f"{commit}^1", check=False)
    return parent.ok and await change_present(repo, parent.out.strip(), commit, ref)
