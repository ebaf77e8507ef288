"""A work tree's files reached by their path relative to the tree, as git reaches them.

git works in a tree by paths relative to its root, so a tracked path of up to PATH_MAX (4096)
bytes works for it wherever the tree is. The same file's absolute path under a longer root (a
task's worktree under `$XDG_CACHE_HOME/launcher/worktrees/<repo>-<hash>/<run>/<task>/`) can pass
PATH_MAX: every `Path.is_file()`, `exists()`, `lstat()` or `read_bytes()` of it then raises
ENAMETOOLONG (which pathlib's `is_file` and `exists` do not swallow). These helpers take the
root and the relative path apart and reach the file through a descriptor of the root (`dir_fd`),
so that they reach exactly what git reaches; an error git would meet too is said, not raised as
a crash, by the callers.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

_MISSING = (errno.ENOENT, errno.ENOTDIR)


def _path_max() -> int:
    try:
        return os.pathconf("/", "PC_PATH_MAX")
    except (OSError, ValueError):
        return 4096


PATH_MAX = _path_max()  # the system's limit on a path it is handed, the final NUL included (Linux: 4096)


def too_long(root: Path, rel: str) -> bool:
    """Whether `rel`'s absolute path under `root` is longer than the system takes (git, which
    works relative to the tree, still reaches it while `rel` itself fits)."""
    return len(os.fsencode(root)) + 1 + len(os.fsencode(rel)) >= PATH_MAX


def too_long_note(root: Path, rels: list[str], what: str) -> str:
    """What to say of paths `too_long` under a worktree `root`, and how to get them in."""
    longest = max(rels, key=lambda rel: len(os.fsencode(rel)))
    return (f"{len(rels)} path(s) {what}: their absolute path in the worktree passes the system's limit "
            f"({PATH_MAX} bytes; the longest, {len(os.fsencode(root / longest))} bytes, ends "
            f"{longest[-40:]!r}); set a shorter `worktree_root` in launcher.toml (or XDG_CACHE_HOME) so that "
            f"they fit (the worktree: {root})")


@contextlib.contextmanager
def _root(root: Path) -> Iterator[int]:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def lstat(root: Path, rel: str) -> os.stat_result | None:
    """`rel`'s own status under `root` (a symbolic link is not followed), None when nothing is
    there. Other errors (EACCES, ELOOP, a path too long even for git) are raised as OSError."""
    try:
        return os.lstat(root / rel)
    except OSError as exc:
        if exc.errno in _MISSING:
            return None
        if exc.errno != errno.ENAMETOOLONG:
            raise
    with _root(root) as fd:
        try:
            return os.stat(rel, dir_fd=fd, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in _MISSING:
                return None
            raise


def is_regular(root: Path, rel: str) -> bool:
    """Whether `rel` under `root` is a regular file (not a symbolic link to one). False when it
    cannot be reached at all: a caller asks because git wrote or changed it there."""
    try:
        info = lstat(root, rel)
    except OSError:
        return False
    return info is not None and stat.S_ISREG(info.st_mode)


def read_bytes(root: Path, rel: str) -> bytes:
    """The content of the file `rel` under `root` (its last component never followed as a link,
    a FIFO never waited on)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(root / rel, flags)
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        with _root(root) as dir_fd:
            fd = os.open(rel, flags, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as file:
        return file.read()
