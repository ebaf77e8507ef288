"""Copy a file as `cp --reflink=auto` does: share the blocks where the file system can
(btrfs, XFS, APFS-like clones via FICLONE; in-kernel `copy_file_range`, which also reflinks on
some file systems), else a plain byte copy. A large `node_modules` or `.venv` named in
`.worktreeinclude` then costs no space and little time per worktree."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
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


def _is_sparse(info: os.stat_result) -> bool:
    """Fewer blocks than its size needs: a file with holes (a disk image, a preallocated store)."""
    return info.st_blocks * 512 < info.st_size


def _copy_data(src_fd: int, dest_fd: int, size: int) -> bool:
    """Copy only the data of a file with holes, as `cp --sparse=auto` does: the holes stay holes.
    `copy_file_range` and a plain copy write each hole out as zeros: a 2 GiB file taking no
    space became 2 GiB per worktree, in memory on a tmpfs. False when the file system cannot
    tell data from holes: both files are then as they were (the caller copies another way)."""
    try:
        if _data_extents(src_fd, dest_fd, size):
            return True
    except (OSError, AttributeError):  # no SEEK_DATA (not Linux), or the file system refused
        pass
    os.ftruncate(dest_fd, 0)
    os.lseek(dest_fd, 0, os.SEEK_SET)
    os.lseek(src_fd, 0, os.SEEK_SET)  # SEEK_DATA moved it; copy_file_range reads from there
    return False


def _data_extents(src_fd: int, dest_fd: int, size: int) -> bool:
    os.ftruncate(dest_fd, size)  # all of it a hole, then the data written over it
    offset = 0
    while offset < size:
        try:
            start = os.lseek(src_fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data past `offset`: the rest is a hole
                return True
            raise
        end = os.lseek(src_fd, start, os.SEEK_HOLE)
        while start < end:
            chunk = os.pread(src_fd, min(1 << 20, end - start), start)
            if not chunk:
                return False  # shorter than it said (it shrank meanwhile)
            view = memoryview(chunk)
            while view:
                written = os.pwrite(dest_fd, view, start)
                start += written
                view = view[written:]
        offset = end
    return True


def _plain(src_fd: int, dest_fd: int) -> None:
    os.ftruncate(dest_fd, 0)
    os.lseek(dest_fd, 0, os.SEEK_SET)
    os.lseek(src_fd, 0, os.SEEK_SET)
    while chunk := os.read(src_fd, 1 << 20):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dest_fd, view):]


def _copy_xattrs(src_fd: int, dest_fd: int) -> None:
    """Extended attributes, as `shutil.copystat` and `cp -a` copy them (none on most files)."""
    with contextlib.suppress(OSError, AttributeError):  # ENOTSUP; no xattr calls off Linux
        for name in os.listxattr(src_fd):
            with contextlib.suppress(OSError):
                os.setxattr(dest_fd, name, os.getxattr(src_fd, name))


def copy_file(src: Path | str, dest: Path | str, info: os.stat_result | None = None) -> str:
    """Copy content, mode and times of the regular file `src` to `dest`, which must not exist
    (FileExistsError: nothing is overwritten, not even through a link); return how: "clone",
    "sparse" (a file with holes: its data only), "copy_file_range" or "plain". `info`: `src`'s
    lstat when the caller has it.

    A handful of system calls a file, on file descriptors (no path looked up twice): thousands
    of small files (a `node_modules`) cost about what `cp -a` costs."""
    src_fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        info = info if info is not None else os.fstat(src_fd)
        dest_fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            how = "plain"
            if _clone(src_fd, dest_fd):
                how = "clone"
            elif _is_sparse(info) and _copy_data(src_fd, dest_fd, info.st_size):
                how = "sparse"
            elif info.st_size and _copy_range(src_fd, dest_fd, info.st_size):
                how = "copy_file_range"
            else:
                _plain(src_fd, dest_fd)
            _copy_xattrs(src_fd, dest_fd)
            with contextlib.suppress(OSError):
                os.fchmod(dest_fd, stat.S_IMODE(info.st_mode))
                os.utime(dest_fd, ns=(info.st_atime_ns, info.st_mtime_ns))
        except OSError:  # a read or write failed midway (EIO, a full disk): no half-copied file stays
            with contextlib.suppress(OSError):
                os.unlink(dest)
            raise
        finally:
            os.close(dest_fd)
    finally:
        os.close(src_fd)
    return how
