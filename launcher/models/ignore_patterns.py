"""Gitignore-syntax patterns (a task's `scope`, `.worktreeinclude`), checked before they are used.

`pathspec` raises on a pattern it cannot compile (`!` alone, a trailing backslash, a character
range such as `[z-a]`); unchecked, that surfaced as an internal error after the agents had run.
Each pattern is compiled once here, so the error names the one that is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathspec


def _compile(lines: list[str]) -> pathspec.GitIgnoreSpec:
    import pathspec  # ~25 ms to import: only where a spec is used

    return pathspec.GitIgnoreSpec.from_lines(lines)


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is not a usable gitignore pattern, or None when it is."""
    import pathspec

    if "\0" in pattern:
        return f"pattern {pattern!r} holds a NUL character"
    try:
        _compile([pattern])
    except (pathspec.patterns.gitignore.GitIgnorePatternError, re.error, ValueError) as exc:
        reason = exc.msg if isinstance(exc, re.error) else str(exc)  # not the regex's inner position
        return f"pattern {pattern!r} is not valid gitignore syntax ({reason})"
    return None


def first_problem(lines: Iterable[str]) -> tuple[int, str] | None:
    """The 1-based line number and problem of the first unusable pattern in `lines`."""
    for number, line in enumerate(lines, start=1):
        problem = pattern_problem(line)
        if problem:
            return number, problem
    return None


def ignore_spec(lines: list[str]) -> pathspec.GitIgnoreSpec:
    """The spec of `lines`, whose patterns the caller has checked with `first_problem`."""
    return _compile(lines)
