"""Claimed versus real: what a completion contract says it changed against what git measured.

Every disagreement is reported (facts.json, the run report, `launcher status`); a contract that
claims changes when the branch holds none fails its task, since the claimed work is nowhere.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any


def _claim(path: str) -> str:
    """A claim as the path git would report: `./src/a.py`, `src//a.py` and `src/a.py` are one
    claim, and `src/` names the directory `src`. Nothing else is changed: git paths are POSIX, so
    a backslash is a character of the name (`back\\slash` is not `back/slash`), and so are
    leading and trailing spaces."""
    return str(PurePosixPath(path))


def disagreements(claimed: list[str], real: list[str]) -> tuple[list[str], list[str]]:
    """(claimed but not changed, changed but not claimed), each sorted. The real paths are taken
    exactly as git reported them, and reported so. A claim of a directory (`src/`, or `src` when
    files under it changed) covers the changed files under it."""
    claims = {_claim(p) for p in claimed if isinstance(p, str) and p}
    changed = set(real)
    parents = {path: [str(d) for d in PurePosixPath(path).parents if str(d) != "."] for path in changed}
    dirs = {d for ds in parents.values() for d in ds}
    claimed_dirs = {claim for claim in claims - changed if claim in dirs}
    covered = {path for path, ds in parents.items() if claimed_dirs.intersection(ds)}
    return sorted(claims - changed - claimed_dirs), sorted(changed - claims - covered)


def claimed_files(contract: dict[str, Any] | None) -> list[str]:
    files = (contract or {}).get("files_changed") or []
    return [f for f in files if isinstance(f, str)] if isinstance(files, list) else []


def empty_claim_failure(claimed: list[str], real: list[str]) -> str | None:
    """Why a task whose contract claims changes but whose branch has none fails (else None)."""
    claims, _ = disagreements(claimed, real)
    if real or not claims:
        return None
    shown = ", ".join(claims[:5]) + (f" and {len(claims) - 5} more" if len(claims) > 5 else "")
    return (f"the contract claims {len(claims)} changed file(s) ({shown}) but the branch changed "
            "nothing: the claimed work is not in the worktree (written outside it, or to ignored "
            "files?)")
