"""Files an agent can reach (its worktree, the `-o` file of its CLI), read and written without
ever blocking: only a regular file is opened, never a FIFO, a device, a socket or a directory (an
`open()` of a FIFO waits for a writer, for ever if none comes); the last path component is never
followed as a symbolic link; reads are bounded.

The launcher's own files in a task's artifacts (`.launcher/runs/<run>/<task>/`, which the
agent can write: a session id, a schema, a CLI's `-o` file) are replaced, never opened in place
(`replace_file`), and removed whatever an agent made of them (`remove_any`): a FIFO, a symbolic
link or a directory there can neither block nor crash the launcher.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"),
)


class NotRegular(OSError):
    """The path is there but is not a regular file."""

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        super().__init__(errno.EINVAL, f"not a regular file ({kind})", str(path))
        self.kind = kind


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _open(path: str | os.PathLike[str], flags: int, mode: int = 0o644) -> int:
    """Open `path` if it is a regular file (or, with O_CREAT, does not exist yet): checked before
    opening (a device is never opened) and after (it cannot have been swapped meanwhile)."""
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        if not flags & os.O_CREAT:
            raise
    else:
        if not stat.S_ISREG(before.st_mode):
            raise NotRegular(path, _kind(before.st_mode))
    flags |= os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegular(path, "a symbolic link") from None
        if exc.errno == errno.ENXIO:  # a FIFO swapped in for writing, with no reader
            raise NotRegular(path, "a FIFO") from None
        raise
    try:
        after = os.fstat(fd)
        if not stat.S_ISREG(after.st_mode):
            raise NotRegular(path, _kind(after.st_mode))
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most `limit` bytes of a regular file; NotRegular (an OSError) for anything else."""
    with os.fdopen(_open(path, os.O_RDONLY), "rb") as fh:
        return fh.read(limit)


class TooLarge(OSError):
    """The regular file is larger than its reader takes (it was not read)."""

    def __init__(self, path: str | os.PathLike[str], size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"larger than the {limit} bytes read ({size} bytes)", str(path))
        self.size = size


def read_capped(path: str | os.PathLike[str], limit: int) -> bytes:
    """A whole regular file of at most `limit` bytes, for a file in an agent's reach (its
    contract, a reviewer's verdict, the launcher's records in the task's artifacts).

    OSError for anything else, never a block or a huge read: FileNotFoundError when nothing is
    there; NotRegular for a FIFO, a device, a directory or a symbolic link (never followed: one
    to /proc/self/mem would fail its read); TooLarge beyond `limit`; an error of the read
    itself (EIO, EACCES) as it is."""
    with os.fdopen(_open(path, os.O_RDONLY), "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise TooLarge(path, size, limit)
        data = fh.read(limit + 1)
    if len(data) > limit:  # grew meanwhile
        raise TooLarge(path, len(data), limit)
    return data


def sha256_capped(path: str | os.PathLike[str], limit: int) -> str:
    """The SHA-256 (hex) of a whole regular file of at most `limit` bytes, read in blocks (a big
    file is never held in memory). OSError as `read_capped`."""
    digest = hashlib.sha256()
    with os.fdopen(_open(path, os.O_RDONLY), "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise TooLarge(path, size, limit)
        read = 0
        for block in iter(lambda: fh.read(1 << 20), b""):
            read += len(block)
            if read > limit:  # grew meanwhile
                raise TooLarge(path, read, limit)
            digest.update(block)
    return digest.hexdigest()


def read_tail(path: str | os.PathLike[str], limit: int) -> tuple[bytes, int]:
    """The last `limit` bytes of a regular file in an agent's reach (a log, shown as its tail
    when it is big), and how many bytes before them were left out. OSError as `read_capped`."""
    with os.fdopen(_open(path, os.O_RDONLY), "rb") as fh:
        skipped = max(os.fstat(fh.fileno()).st_size - limit, 0)
        fh.seek(skipped)
        return fh.read(limit), skipped


def read_from(path: str | os.PathLike[str], offset: int, limit: int) -> tuple[bytes, int]:
    """At most `limit` bytes of a regular file from `offset` (from its start when it is now
    shorter than that: it was written anew), and the offset they start at: a log followed as it
    grows. OSError as `read_capped`."""
    with os.fdopen(_open(path, os.O_RDONLY), "rb") as fh:
        if offset > os.fstat(fh.fileno()).st_size:
            offset = 0
        fh.seek(offset)
        return fh.read(limit), offset


def copy_regular(path: str | os.PathLike[str], out: BinaryIO, block: int = 1 << 20) -> int:
    """Write a whole regular file in an agent's reach to `out`, a block at a time (never held in
    memory whole); the bytes written. OSError as `read_capped`."""
    written = 0
    with os.fdopen(_open(path, os.O_RDONLY), "rb") as fh:
        for data in iter(lambda: fh.read(block), b""):
            out.write(data)
            written += len(data)
    return written


def read_json_or_none(path: str | os.PathLike[str], limit: int = 16 * 1024 * 1024) -> Any:
    """The JSON document of a file in an agent's reach that the launcher wrote (a round's record,
    facts.json); None when it is missing or is not what the launcher wrote: not a regular file,
    unreadable, over `limit`, not UTF-8, not JSON."""
    try:
        return json.loads(read_capped(path, limit).decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def write_regular(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the content of a regular file (created if missing); NotRegular for anything else."""
    fd = _open(path, os.O_WRONLY | os.O_CREAT)
    with os.fdopen(fd, "wb") as fh:
        os.ftruncate(fd, 0)  # only now: a FIFO or a device is never truncated
        fh.write(data)


def clear_path(path: str | os.PathLike[str]) -> None:
    """Remove whatever an agent left at a path the launcher is about to use (its contract file,
    its CLI's answer file): a file, a symbolic link (never followed), a FIFO, or a whole directory
    tree. A missing path is fine; OSError if something stays."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        os.unlink(path)
        return

    top = os.path.abspath(path)

    def writable_and_retry(func: Any, name: str, exc: Any) -> None:
        error = exc[1] if isinstance(exc, tuple) else exc  # onerror's exc_info, onexc's exception
        if isinstance(error, FileNotFoundError):
            return  # removed meanwhile (another remover): gone is what was wanted
        # A directory inside the tree the agent made unwritable (chmod 0): ours to open again. Never
        # the folder holding the tree itself (the top's failure would chmod /tmp, say, to 0700).
        parent = os.path.abspath(os.path.dirname(name) or ".")
        if parent == top or parent.startswith(top + os.sep):
            os.chmod(parent, 0o700)
        if os.path.isdir(name) and not os.path.islink(name):
            os.chmod(name, 0o700)
            shutil.rmtree(name)
        else:
            func(name)

    if sys.version_info >= (3, 12):  # `onerror` is deprecated from 3.12 on; `onexc` is its successor
        shutil.rmtree(path, onexc=writable_and_retry)
    else:
        shutil.rmtree(path, onerror=writable_and_retry)


def remove_any(path: str | os.PathLike[str]) -> None:
    """`clear_path`, best effort: what cannot be removed is left (the caller's next step fails
    on it with its own message); nothing there is no error."""
    with contextlib.suppress(OSError):
        clear_path(path)


def replace_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Make `path` a new regular file holding `data`: written to a temporary file beside it, then
    renamed over whatever was there (a FIFO or a symbolic link is replaced, never opened; a
    directory is removed first)."""
    target = Path(path)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(target).st_mode):
            remove_any(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
