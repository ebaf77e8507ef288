"""What a test run leaves in a worker tree, removed before the next run there.

Ground truth for a mutant is the suite run fresh on a clean copy of the project. A worker tree
runs many mutants one after the other: a file a run writes in it (a cache the code keeps beside
itself, `out/` a test forgets to remove, a generated module) is still there for the next run, and
the code under test may then read it instead of computing: a mutant of that computation survived,
an unmutated selection check failed. So the tree's files are listed once set up (base commit,
overlay, copied ignored files); before each test run, a file or directory not on that list is
removed. What a long-lived process of the tree creates when it starts (the fork worker importing
the conftests, the zygote) is adopted into the list: its runs expect it, and a fresh run would
create it again. Bytecode caches are left alone (the executors handle a mutant's bytecode).
Files that exist on the list but were changed by a run are not restored (not checked).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

_SKIPPED = frozenset({".git", "__pycache__"})


def _listing(root: Path) -> set[str]:
    found: set[str] = set()
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIPPED]
        rel = os.path.relpath(top, root)
        for name in (*dirs, *files):
            if name not in _SKIPPED:
                found.add(name if rel == "." else os.path.join(rel, name))
    return found


class TreeLeftovers:
    """One worker tree's files as set up, and the removal of what runs added to it."""

    def __init__(self, root: Path, *, active: bool = True) -> None:
        self.root = root
        self.active = active  # False: a tree that is not the sweep's own (never cleaned)
        self._kept: set[str] | None = None

    def adopt(self) -> None:
        """Take the tree as it is now as its clean state (after setting it up, after a
        long-lived test process of it started)."""
        self._kept = _listing(self.root) if self.active and self.root.is_dir() else None

    def clear(self) -> None:
        """Remove every file and directory not in the clean state (nothing before `adopt`)."""
        if self._kept is None or not self.root.is_dir():
            return
        for rel in sorted(_listing(self.root) - self._kept, key=len):
            path = self.root / rel
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)  # (its own entries go with it)
            else:
                # (gone with a directory removed just before, or not ours to remove)
                with contextlib.suppress(OSError):
                    path.unlink()
