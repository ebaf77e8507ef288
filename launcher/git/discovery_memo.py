"""Repositories discovered during one CLI command, answered from memory (`GitRepo.discover`).

One command asks for its repository several times (the plan's config, the run itself), and each
asking is four git commands, serial, before anything else can start. Within `discovery_kept()`
(entered once per CLI process, cli/entry.py) a start already discovered is answered from what
was found then; a long-lived process (the MCP server) asks git each time, since the user may
move or reconfigure the repository while it lives."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from pathlib import Path

# start (absolute) and git's environment -> (work tree, common dir, git dir, identity variables)
Key = tuple[str, tuple[tuple[str, str], ...]]
Found = tuple[Path, Path, Path, dict[str, str]]
_KEPT: contextvars.ContextVar[dict[Key, Found] | None] = contextvars.ContextVar("launcher_discovered", default=None)


@contextlib.contextmanager
def discovery_kept(keep: bool = True) -> Iterator[None]:
    """Discover each repository once while this is entered (one CLI command); `keep=False`:
    ask git each time within it (the MCP server, which lives on while the user works)."""
    token = _KEPT.set({} if keep else None)
    try:
        yield
    finally:
        _KEPT.reset(token)


def key(start: Path, env: dict[str, str]) -> Key:
    return os.path.abspath(start), tuple(sorted(env.items()))


def known(at: Key) -> Found | None:
    kept = _KEPT.get()
    return None if kept is None else kept.get(at)


def keep(at: Key, found: Found) -> None:
    kept = _KEPT.get()
    if kept is not None:
        kept[at] = found
