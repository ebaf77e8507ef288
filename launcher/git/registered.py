"""Where a linked worktree's admin dir (`<common>/worktrees/<id>`) says its worktree is.

Its `gitdir` file names the worktree's `.git` file: an absolute path, or, since git 2.48 with
`worktree.useRelativePaths` (the user's own `git worktree add`, or `--relative-paths`), a path
relative to the admin dir itself, as git reads it (worktree.c: resolved from the admin dir).
Read as it is, a relative one would be taken relative to the launcher's current directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def registered_dot_git(admin: Path) -> Path | None:
    """The `.git` file the admin dir registers; None: no readable, non-empty `gitdir` file."""
    try:
        text = os.fsdecode(admin.joinpath("gitdir").read_bytes()).strip()  # a path: its bytes as they are
    except OSError:
        return None
    if not text:
        return None
    path = Path(text)
    return path if path.is_absolute() else (admin / path).resolve()


def registered_worktree(admin: Path) -> Path | None:
    """The worktree the admin dir registers (the directory of its `.git`); None: unreadable."""
    dot_git = registered_dot_git(admin)
    return None if dot_git is None else dot_git.parent
