"""Which branches conflict with which (DESIGN 8, the queue): a pairwise `git merge-tree` of
finished branches, and a prediction for work still in progress from the files each task has
touched so far (two tasks editing one file may conflict; different files cannot).

Everything is computed in memory: merge-tree writes objects, never a ref or a work tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Literal

from launcher.concurrency import each
from launcher.git.merge import preflight
from launcher.git.repo import Change, GitRepo

Kind = Literal["conflict", "predicted"]


@dataclass
class Pair:
    a: str
    b: str
    kind: Kind  # "conflict": merge-tree says so; "predicted": both touch these files
    files: list[str] = field(default_factory=list)


@dataclass
class BranchChanges:
    """What a branch changed since its fork from the target, for the prefilter."""

    paths: set[str] = field(default_factory=set)  # every path added, changed or deleted
    dirs: set[str] = field(default_factory=set)  # every directory above one of them (not the root)
    emptied: set[str] = field(default_factory=set)  # every directory above a deleted path

    def may_conflict(self, other: BranchChanges) -> bool:
        """False only when merging the two cannot conflict: no path in common (content,
        add/add, modify/delete, rename conflicts all share one), no path of one that is a
        directory of the other's (file/directory), and no change of one inside a directory the
        other deleted from (git's directory-rename detection moves it: a rename is a delete
        plus an add here; the root is never taken for a renamed directory)."""
        return bool(self.paths & other.paths or self.paths & other.dirs or other.paths & self.dirs
                    or self.emptied & other.dirs or other.emptied & self.dirs)


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]


def _from(changes: list[tuple[str, bool]]) -> BranchChanges:
    """`BranchChanges` of (path, deleted) pairs."""
    found = BranchChanges()
    for path, deleted in changes:
        if not path:
            continue
        found.paths.add(path)
        found.dirs.update(_parents(path))
        if deleted:
            found.emptied.update(_parents(path))
    return found


async def _changes(repo: GitRepo, base: str, head: str) -> BranchChanges | None:
    """None when git cannot say (no common history): that branch is merged with every other."""
    diff = await repo.git("diff", "--name-status", "--no-renames", "--ignore-submodules=none", "-z",
                          f"{base}...{head}", check=False)
    if not diff.ok:
        return None
    tokens = diff.out.split("\0")
    return _from([(path, status.startswith("D")) for status, path in zip(tokens[0::2], tokens[1::2], strict=False)])


def known(changes: list[Change]) -> BranchChanges:
    """`BranchChanges` of what `GitRepo.changed_entries(base, head)` listed, for a head that builds on
    `base` (then `base...head` is that same range): no diff needed."""
    return _from([(c.path, set(c.blob) == {"0"}) for c in changes])


_DIFF_PARALLEL = 4
MAX_MERGED_PAIRS = 300  # `git merge-tree` runs per matrix (about 8 ms each)


async def pairwise(repo: GitRepo, heads: dict[str, str], base: str | None = None,
                   listed: dict[str, BranchChanges] | None = None) -> list[Pair]:
    """Every pair of `heads` (task id -> commit) that does not merge cleanly, with the files.
    With `base` (the target), a pair is merged only when what the two changed since their fork
    from it may conflict (`BranchChanges.may_conflict`: one diff per branch instead of a merge per
    pair; sound, so no conflict git would report is missed). `listed`: changes already known
    (`known`) of heads that build on `base`."""
    changed: dict[str, BranchChanges | None] = dict(listed or {})
    if base is not None:
        async def diff(task_id: str) -> None:
            changed[task_id] = await _changes(repo, base, heads[task_id])

        await each([t for t in heads if t not in changed], diff, _DIFF_PARALLEL)
    pairs: list[Pair] = []
    merged = 0
    for a, b in combinations(heads, 2):
        if heads[a] == heads[b]:
            continue
        ours, theirs = (changed[a], changed[b]) if base is not None else (None, None)
        if ours is not None and theirs is not None and not ours.may_conflict(theirs):
            continue
        if merged >= MAX_MERGED_PAIRS:
            # Tasks that all touch one file (a changelog) make N² pairs to merge: past the cap a
            # pair that may conflict is reported as such, unchecked; the landing's own fold finds
            # out for each branch it lands.
            shared = sorted(ours.paths & theirs.paths) if ours is not None and theirs is not None else []
            pairs.append(Pair(a, b, "predicted", shared))
            continue
        merged += 1
        tree, files, _ = await preflight(repo, heads[a], heads[b])
        if tree is None:
            pairs.append(Pair(a, b, "conflict", files))
    return pairs


async def touched_files(repo: GitRepo, worktree: Path, start: str) -> list[str]:
    """What a task has changed so far: committed since `start`, plus what is not yet committed.
    A rename touches both paths (its source is deleted: an edit of it elsewhere conflicts).
    Without git's optional locks: the index of a tree an agent works in is never locked by it."""
    found: set[str] = set()
    committed = await repo.git("diff", "--name-only", "-z", "--no-renames", "--ignore-submodules=none",
                               start, "HEAD", cwd=worktree, check=False)
    found.update(p for p in committed.out.split("\0") if p)
    pending = await repo.git("--no-optional-locks", "status", "--porcelain=v1", "-z", "--no-renames",
                             "--untracked-files=all", cwd=worktree, check=False)
    found.update(entry[3:] for entry in pending.out.split("\0") if len(entry) > 3)
    return sorted(found)


def predicted(touched: dict[str, list[str]], known: list[Pair]) -> list[Pair]:
    """Pairs that share a touched file and are not already known from merge-tree."""
    seen = {frozenset((p.a, p.b)) for p in known}
    pairs: list[Pair] = []
    for a, b in combinations(touched, 2):
        shared = sorted(set(touched[a]) & set(touched[b]))
        if shared and frozenset((a, b)) not in seen:
            pairs.append(Pair(a, b, "predicted", shared))
    return pairs


def conflicting(pairs: list[Pair]) -> dict[str, set[str]]:
    """Task id -> the tasks it conflicts with (merge-tree conflicts only)."""
    partners: dict[str, set[str]] = {}
    for pair in pairs:
        if pair.kind == "conflict":
            partners.setdefault(pair.a, set()).add(pair.b)
            partners.setdefault(pair.b, set()).add(pair.a)
    return partners
