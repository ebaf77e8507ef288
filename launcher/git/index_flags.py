"""Reading `git ls-files -v -z`: which index entries carry a flag that makes `git status` and
`git add` pass their file over (assume-unchanged: a lower-case tag; skip-worktree: `S`/`s`)."""

from __future__ import annotations


def all_plain(listed: str) -> bool:
    """Every entry of `git ls-files -v -z` output is tagged `H` (cached, no flag): the usual
    case, answered without a Python loop over thousands of entries. A path never holds a NUL,
    so each `\\0H ` starts an entry."""
    return listed.count("\0") == listed.count("\0H ") + listed.startswith("H ")
