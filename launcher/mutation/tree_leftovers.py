"""What a test run leaves in a worker tree, undone before the next run there.

Ground truth for a mutant is the suite run fresh on a clean copy of the project. A worker tree
runs many mutants one after the other: a file a run writes in it (a cache the code keeps beside
itself, `out/` a test forgets to remove, a tracked data file a test rewrites) is still there for
the next run, and the code under test may then read it instead of computing: a mutant of that
computation survived, an unmutated selection check failed. So the tree's files are listed once
set up (base commit, overlay, copied ignored files) with their size and modification time; before
each test run, a file or directory not on that list is removed, and a listed file that changed
or went missing is put back (`restore`, the executor's: from the snapshot or the base commit).
What a long-lived process of the tree creates when it starts (the fork worker importing the
conftests, the zygote) is adopted into the list: its runs expect it, and a fresh run would create
it again. Bytecode caches are left alone (the executors handle a mutant's bytecode).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from launcher.git.repo import GitRepo

_SKIPPED = frozenset({".git", "__pycache__"})

# rel path -> (size, mtime) of a file or symlink; None for a directory
_Listing = dict[str, "tuple[int, int] | None"]


def _listing(root: Path) -> _Listing:
    found: _Listing = {}
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIPPED]
        rel = os.path.relpath(top, root)
        for name in dirs:
            found[name if rel == "." else os.path.join(rel, name)] = None
        for name in files:
            here = name if rel == "." else os.path.join(rel, name)
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(top, name))
                found[here] = (st.st_size, st.st_mtime_ns)
    return found


class TreeLeftovers:
    """One worker tree's files as set up, and the undoing of what runs did to them."""

    def __init__(self, root: Path, *, active: bool = True,
                 restore: Callable[[list[str]], Awaitable[None]] | None = None) -> None:  # fmt: skip
        self.root = root
        self.active = active  # False: a tree that is not the sweep's own (never cleaned)
        self.restore = restore  # puts back listed files that a run changed or removed
        self._kept: _Listing | None = None

    def adopt(self) -> None:
        """Take the tree as it is now as its clean state (after setting it up, after a
        long-lived test process of it started)."""
        self._kept = _listing(self.root) if self.active and self.root.is_dir() else None

    def settle(self, path: Path) -> None:
        """`path` (a file of the tree) was put back as it was by its writer (a mutant's file
        restored by the executor): its new modification time is no change."""
        if self._kept is None:
            return
        rel = os.path.relpath(path, self.root)
        with contextlib.suppress(OSError):
            if self._kept.get(rel) is not None:
                st = os.lstat(path)
                self._kept[rel] = (st.st_size, st.st_mtime_ns)

    async def clear(self, skip: Path | None = None) -> None:
        """Remove every file and directory not in the clean state and put back the listed files
        that changed (nothing before `adopt`). `skip`: the file a mutant is written to now."""
        if self._kept is None or not self.root.is_dir():
            return
        now = _listing(self.root)
        for rel in sorted(now.keys() - self._kept.keys(), key=len):
            path = self.root / rel
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)  # (its own entries go with it)
            else:
                # (gone with a directory removed just before, or not ours to remove)
                with contextlib.suppress(OSError):
                    path.unlink()
        skipped = os.path.relpath(skip, self.root) if skip is not None else None
        changed = [rel for rel, was in self._kept.items()
                   if was is not None and rel != skipped and now.get(rel) != was]  # fmt: skip
        if changed and self.restore is not None:
            await self.restore(changed)
            for rel in changed:
                self.settle(self.root / rel)


def put_back(repo: GitRepo, root: Path, overlay: Sequence[str], source: Path) -> Callable[[list[str]], Awaitable[None]]:
    """A worker tree's `restore`: an overlay file from the sweep's snapshot (`source`), any other
    from the tree's own index (the base commit, checked out with its filters)."""
    copied = set(overlay)

    async def restore(rels: list[str]) -> None:
        tracked = []
        for rel in rels:
            src, dst = source / rel, root / rel
            if rel not in copied:
                tracked.append(f":(literal){rel}")
            elif src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        if tracked:
            async with repo.lock.hold():
                await repo.git("checkout", "-q", "--", *tracked, cwd=root, check=False)

    return restore
