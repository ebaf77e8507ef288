"""The permissions of what the launcher records of a run: agent and check output, task data, the
journal. That output routinely holds a token an agent or a check could read (a copied `.env`
printed by a failing tool), so every such file is private to the user (0600) and every folder
the launcher makes for them is too (0700), whatever the umask: one policy, here.

`open_private` creates a file 0600 (an existing one is narrowed to 0600), `make_private_dirs`
makes the missing folders of a path 0700 (folders already there are left as they are, except
the leaf, which is narrowed), `narrow` drops the group and other bits of a file already there
(a journal created 0644 by an earlier launcher, its `-wal`/`-shm` files).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def narrow(path: str | os.PathLike[str]) -> None:
    """Drop the group and other permissions of `path` if it is a regular file or a folder the
    user owns (a symbolic link is never followed); best effort: a file that cannot be changed
    (another user's, a read-only mount) stays as it is."""
    with contextlib.suppress(OSError):
        info = os.lstat(path)
        if info.st_uid != os.getuid() or not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            return
        if info.st_mode & 0o077:
            os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077, follow_symlinks=False)


def narrow_fd(fd: int) -> None:
    """`narrow` for an open file."""
    with contextlib.suppress(OSError):
        info = os.fstat(fd)
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o077)


def open_private(path: str | os.PathLike[str], flags: int) -> int:
    """`os.open(path, flags)`, a file it creates made 0600 and one already there narrowed to it."""
    fd = os.open(path, flags, FILE_MODE)
    narrow_fd(fd)
    return fd


def make_private_dirs(path: Path, narrow_existing: bool = True) -> None:
    """`path.mkdir(parents=True, exist_ok=True)`, each folder it makes 0700 and `path` itself
    narrowed to it (a run's folder made by an earlier launcher 0755) unless `narrow_existing`
    is False (the folder of a private file written into a checkout: never the checkout's own)."""
    missing: list[Path] = []
    walk = path
    while not walk.exists() and walk != walk.parent:
        missing.append(walk)
        walk = walk.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)
    if not path.is_dir():
        path.mkdir(exist_ok=True)  # raises what mkdir says (a file in the way)
    if narrow_existing:
        narrow(path)


def open_private_append(path: Path, text: bool = False) -> IO[Any]:
    """`path` opened for appending (binary, or UTF-8 text), created 0600 and its folders 0700."""
    make_private_dirs(path.parent)
    fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC)
    return os.fdopen(fd, "a", encoding="utf-8") if text else os.fdopen(fd, "ab")
