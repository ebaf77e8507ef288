"""Copy a file as `cp --reflink=auto` does: share the blocks where the file system can
(btrfs, XFS, APFS-like clones via FICLONE; in-kernel `copy_file_range`, which also reflinks on
some file systems), else a plain byte copy. A large `node_modules` or `.venv` named in
`.worktreeinclude` then costs no space and little time per worktree."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def _clone(src_fd: int, dest_fd: int) -> bool:
    try:
        fcntl.ioctl(dest_fd, FICLONE, src_fd)
    except OSError:  # EOPNOTSUPP, EXDEV, EINVAL (not Linux, other file system): try the next way
        return False
    return True


def _copy_range(src_fd: int, dest_fd: int, size: int) -> bool:
    copy_file_range = getattr(os, "copy_file_range", None)
    if copy_file_range is None:
        return False
    done = 0
    try:
        while done < size:
            sent = copy_file_range(src_fd, dest_fd, size - done)
            if sent == 0:
                break
            done += sent
    except OSError:
        if done:  # a partial copy: start over with the plain way
            os.ftruncate(dest_fd, 0)
            os.lseek(dest_fd, 0, os.SEEK_SET)
        return False
    return done == size


def copy_file(src: Path, dest: Path) -> str:
    """Copy content, mode and times of the regular file `src` to the new file `dest`; return
    how: "clone", "copy_file_range" or "plain"."""
    size = src.stat().st_size
    how = "plain"
    with open(src, "rb") as source, open(dest, "wb") as target:
        if _clone(source.fileno(), target.fileno()):
            how = "clone"
        elif _copy_range(source.fileno(), target.fileno(), size):
            how = "copy_file_range"
        else:
            target.seek(0)
            target.truncate()
            source.seek(0)
            shutil.copyfileobj(source, target, 1 << 20)
    with contextlib.suppress(OSError):
        shutil.copystat(src, dest, follow_symlinks=False)
    return how
