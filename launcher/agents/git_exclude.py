"""Keep a tool's own files out of git without touching a tracked file.

The pattern goes in the repository's `info/exclude` (in the common git dir, so every worktree
of the repository shares it): git then neither shows nor commits matching files, and no
`.gitignore` is written into the tree (some CLIs, Gemini's read_file among them, refuse to read
files a `.gitignore` names).
"""

from __future__ import annotations

import os
from pathlib import Path

from launcher.git import guard
from launcher.git.repo import add_exclude_line
from launcher.regular_files import read_regular

_SMALL = 64 * 1024  # a `.git` file or `commondir`: one line


def exclude_from_git(worktree: Path, pattern: str) -> None:
    """Add `pattern` to the repository's info/exclude (shared by all its worktrees), once."""
    guard.launcher_excludes(pattern)  # the guard of the shared git dir must not undo it
    dot_git = worktree / ".git"
    try:
        if dot_git.is_dir():
            common = dot_git
        else:
            text = os.fsdecode(read_regular(dot_git, _SMALL)).strip()  # the agent's: no FIFO/link
            if not text.startswith("gitdir:"):
                return
            gitdir = Path(text.split(":", 1)[1].strip())
            if not gitdir.is_absolute():
                gitdir = (worktree / gitdir).resolve()
            commondir = gitdir / "commondir"
            common = gitdir
            if commondir.is_file():
                rel = Path(os.fsdecode(read_regular(commondir, _SMALL)).strip())
                common = rel if rel.is_absolute() else (gitdir / rel).resolve()
        add_exclude_line(common / "info" / "exclude", pattern)
    except (OSError, UnicodeDecodeError):
        return  # best effort: at worst the files show up in `git status`
