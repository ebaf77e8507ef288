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

from launcher.git.merge import preflight
from launcher.git.repo import GitRepo

Kind = Literal["conflict", "predicted"]


@dataclass
class Pair:
    a: str
    b: str
    kind: Kind  # "conflict": merge-tree says so; "predicted": both touch these files
    files: list[str] = field(default_factory=list)


async def pairwise(
    repo: GitRepo, heads: dict[str, str], base: str | None = None,
    known: dict[str, set[str]] | None = None,
) -> list[Pair]:
    """Every pair of `heads` (task id -> commit) that does not merge cleanly, with the files.
    With `base` (the target), only pairs whose changes since their fork from it share a path
    are merged (one diff per branch instead of a merge per pair): branches that change
    different files merge cleanly with each other (a rename is a delete plus an add here).
    `known`: task id -> its changes since `base`, already listed (a branch started at `base`)."""
    changed: dict[str, set[str]] = {}
    if base is not None:
        for task_id, head in heads.items():
            if known is not None and task_id in known:
                changed[task_id] = known[task_id]
                continue
            diff = await repo.git("diff", "--name-only", "--no-renames", "-z", f"{base}...{head}", check=False)
            changed[task_id] = {p for p in diff.out.split("\0") if p} if diff.ok else set()
    pairs: list[Pair] = []
    for a, b in combinations(heads, 2):
        if heads[a] == heads[b]:
            continue
        if base is not None and not changed[a] & changed[b]:
            continue
        tree, files, _ = await preflight(repo, heads[a], heads[b])
        if tree is None:
            pairs.append(Pair(a, b, "conflict", files))
    return pairs


async def touched_files(repo: GitRepo, worktree: Path, start: str) -> list[str]:
    """What a task has changed so far: committed since `start`, plus what is not yet committed."""
    found: set[str] = set()
    committed = await repo.git("diff", "--name-only", "-z", start, "HEAD", cwd=worktree, check=False)
    found.update(p for p in committed.out.split("\0") if p)
    pending = await repo.git("status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=all",
                             cwd=worktree, check=False)
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
