"""The main checkout following its target only while it still has the target checked out.

The landing looks once whether the main checkout has the target branch checked out, then moves
the ref and runs `git read-tree -m -u OLD NEW` there. The user's own git does not take the
launcher's lock: a `git switch other` in between leaves HEAD on `other`, and the read-tree would
then stage the landed change (OLD -> NEW) onto `other`'s index and files. So HEAD is read again
right before the read-tree and right after it (git's `index.lock`, which both the read-tree and
the user's switch take, orders the two): if it no longer names the target, the checkout is not
touched, or what the read-tree wrote onto the other branch is taken back (only that: the paths
whose index entry is the landed one where the other branch's HEAD has something else), and the
landing says the checkout is on another branch and was not updated.
"""

from __future__ import annotations

from dataclasses import dataclass

from launcher import process
from launcher.git import tree_undo
from launcher.git.repo import GitRepo
from launcher.git.tree_undo import TreeBefore, Undone, split_z, tree_entries


async def checked_out(repo: GitRepo) -> str:
    """What the main checkout has checked out: its branch's ref, or "" (a detached HEAD)."""
    head = await repo.git("symbolic-ref", "--quiet", "HEAD", check=False)
    return head.out.strip() if head.ok else ""


async def said_checkout(repo: GitRepo, ref: str) -> str:
    """The checkout's branch as said to the user: "the branch other" or "a detached HEAD at X"."""
    if ref:
        return f"the branch {ref.removeprefix('refs/heads/')}"
    head = await repo.git("rev-parse", "--verify", "--quiet", "HEAD", check=False)
    return f"a detached HEAD at {head.out.strip()[:12]}" if head.ok else "no commit"


@dataclass
class Followed:
    """The outcome of `read_tree_on`: `updated` is git's (None: not run, the checkout was no
    longer on the target); `elsewhere` says what the checkout has instead when HEAD no longer
    names the target (before or after the read-tree); `undone` what was taken back of a
    read-tree that reached the other branch."""

    updated: process.Completed | None
    elsewhere: str | None = None
    undone: Undone | None = None


async def read_tree_on(repo: GitRepo, ref: str, old: str, new: str, how_far: list[str],
                       before: TreeBefore, env: dict[str, str] | None) -> Followed:
    """`git read-tree <how_far>` in the main checkout, only while it has `ref` checked out
    (caller holds the repository lock; `before` is `tree_undo.before_update(old, new)`)."""
    if (now := await checked_out(repo)) != ref:
        return Followed(None, await said_checkout(repo, now))
    updated = await repo.git("read-tree", *how_far, check=False, env=env, full_disk_ok=True,
                             timed_out_ok=True)
    if (after := await checked_out(repo)) == ref:
        return Followed(updated)
    # Switched while the read-tree ran (or just before it): what it wrote onto the other
    # branch is taken back. A failed read-tree is undone by the caller, as when not switched.
    undone = await take_back(repo, old, new, before) if updated.ok else None
    return Followed(updated, await said_checkout(repo, after), undone)


async def take_back(repo: GitRepo, old: str, new: str, before: TreeBefore) -> Undone:
    """Take back a `read-tree -m -u old new` that ran on another branch's checkout: the paths
    whose index entry is the landed one while that branch's HEAD holds something else (a
    two-way read-tree only writes a path whose entry was OLD's, so OLD's goes back)."""
    paths = before.added + before.changed
    if not paths:
        return Undone()
    staged = await tree_undo.for_paths(repo, ("ls-files", "-s", "-z"), paths)
    index: dict[str, tuple[str, str]] = {}
    for entry in split_z(staged):
        meta, _, path = entry.partition("\t")
        mode, oid, _stage = meta.split()
        index[path] = (mode, oid)
    landed = await tree_entries(repo, new, paths)
    head = await tree_entries(repo, "HEAD", paths)
    ours = {p for p in paths if index.get(p) == landed.get(p) and head.get(p) != landed.get(p)}
    if not ours:
        return Undone()
    mine = TreeBefore([p for p in before.added if p in ours], [p for p in before.changed if p in ours],
                      before.prior, before.parents, before.at)
    undone = await tree_undo.undo_update(repo, old, new, mine)
    listed = sorted(ours)
    for start in range(0, len(listed), 1000):  # the index entries: OLD's again (none if it had none)
        done = await repo.git("--literal-pathspecs", "reset", "-q", old, "--", *listed[start : start + 1000],
                              check=False)
        if not done.ok:
            undone.problems.append(done.err.strip() or f"git reset {old[:12]} failed")
    for path in listed:
        if path not in undone.put_back and path not in undone.left:
            undone.put_back.append(path)  # (only its index entry was the landing's)
    return undone


def not_followed(target_branch: str, new: str, root: str, elsewhere: str, undone: Undone | None) -> str:
    """The truth when the checkout was switched away from the target during the landing."""
    said = (f"{target_branch} advanced to {new[:12]}; your checkout {root} is on {elsewhere}, not "
            f"{target_branch} (switched during the landing), so it was not updated")
    if undone is not None and (undone.put_back or undone.left or undone.problems):
        said = tree_undo.said(said + ". The update had already been written onto it", undone)
    return said + f". `git switch {target_branch}` there brings the landed work into it"
