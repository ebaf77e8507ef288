"""Claimed versus real: what a completion contract says it changed against what git measured.

Every disagreement is reported (facts.json, the run report, `launcher status`); a contract that
claims changes when the branch holds none fails its task, and the failure says why: the claimed
files already held that content at the task's start, or the claimed work is nowhere.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import PurePosixPath
from typing import Any

import anyio

from launcher.errors import GitFailed, GitTimedOut
from launcher.git import tree_undo
from launcher.git.repo import GitRepo


def _claim(path: str) -> str:
    """A claim as the path git would report: `./src/a.py`, `src//a.py` and `src/a.py` are one
    claim, and `src/` names the directory `src`. Nothing else is changed: git paths are POSIX, so
    a backslash is a character of the name (`back\\slash` is not `back/slash`), and so are
    leading and trailing spaces."""
    parts = path.split("/")
    if all(parts) and "." not in parts:  # already as git reports it (PurePosixPath is slow: 60,000 claims)
        return path
    return str(PurePosixPath(path))


def _folders(path: str) -> list[str]:
    """The folders holding a path git reports (`a/b/c.py`: `a/b`, `a`), nearest first."""
    found = []
    end = path.rfind("/")
    while end > 0:
        found.append(path[:end])
        end = path.rfind("/", 0, end)
    return found


def disagreements(claimed: list[str], real: list[str]) -> tuple[list[str], list[str]]:
    """(claimed but not changed, changed but not claimed), each sorted. The real paths are taken
    exactly as git reported them, and reported so. A claim of a directory (`src/`, or `src` when
    files under it changed) covers the changed files under it."""
    claims = {_claim(p) for p in claimed if isinstance(p, str) and p}
    changed = set(real)
    parents = {path: _folders(path) for path in changed}
    dirs = {d for ds in parents.values() for d in ds}
    claimed_dirs = {claim for claim in claims - changed if claim in dirs}
    covered = {path for path, ds in parents.items() if claimed_dirs.intersection(ds)}
    return sorted(claims - changed - claimed_dirs), sorted(changed - claims - covered)


def claimed_files(contract: dict[str, Any] | None) -> list[str]:
    files = (contract or {}).get("files_changed") or []
    return [f for f in files if isinstance(f, str)] if isinstance(files, list) else []


def _listed(paths: list[str]) -> str:
    return ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def empty_claim_failure(claimed: list[str], real: list[str], at_start: Collection[str] = (),
                        start: str = "") -> str | None:
    """Why a task whose contract claims changes but whose branch has none fails (else None).
    `at_start`: the paths the task's start commit `start` holds among the claims (see
    `held_at_start`): a claim of one of those is true work that was already there (the example
    plan run twice writes hello.txt with the content it landed the first time), not work lost."""
    claims, _ = disagreements(claimed, real)
    if real or not claims:
        return None
    # Linear in claims and files: a formatter "run on every file" claims 60,000 of them.
    held = set(at_start)
    folders: set[str] = set()
    for path in held:
        end = path.rfind("/")
        while end > 0 and (folder := path[:end]) not in folders:  # a known folder's folders are known
            folders.add(folder)
            end = path.rfind("/", 0, end)
    there = [c for c in claims if c in held or c in folders]
    taken = set(there)
    lost = [c for c in claims if c not in taken]
    head = (f"the contract claims {len(claims)} changed file(s) ({_listed(claims)}) but the branch changed "
            "nothing")
    said = []
    if there:
        said.append(f"{_listed(there)} already {'holds' if len(there) == 1 else 'hold'} that content at the "
                    f"commit the task started from ({start[:12]}), so the task had nothing to change (if that "
                    "work is what it was for, it is done: drop the task from the plan; else give it a change "
                    "the base lacks)")
    if lost:
        said.append(f"{'the claimed work' if not there else _listed(lost)} is not in the worktree (written "
                    "outside it, or to ignored files?)")
    return f"{head}: {'; '.join(said)}"


async def held_at_start(repo: GitRepo, claimed: list[str], real: list[str], start: str) -> list[str]:
    """The files of the task's start commit that its claims name (a claimed file, or the files of
    a claimed directory), when the branch changed nothing (else there is nothing to explain)."""
    claims, _ = disagreements(claimed, real)
    inside = [c for c in claims if not c.startswith("/") and ".." not in PurePosixPath(c).parts and c != "."]
    if real or not inside:
        return []
    try:
        return sorted(await tree_undo.tree_entries(repo, start, inside))
    except GitTimedOut:
        raise  # no answer: not "none of them was there"
    except GitFailed:  # a claim git cannot take as a path: the failure says what it would have said
        return []


async def empty_claim(repo: GitRepo, claimed: list[str], real: list[str], start: str) -> str | None:
    """`empty_claim_failure` for a task's contract, with the files of its start commit its claims
    name read from git; worked out in a worker thread, so a contract claiming 60,000 files never
    holds up the event loop (every other task's supervision, the live view)."""
    at_start = await held_at_start(repo, claimed, real, start)
    return await anyio.to_thread.run_sync(empty_claim_failure, claimed, real, at_start, start)
