"""Bounded output: the last bytes of a stream (or its first and last), a log file that keeps its head and tail, and the
lines of a stream handed to a reader as they come."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

from launcher.private_files import make_private_dirs, open_private
from launcher.secret_mask import cut_reach, mask_bytes_window

DEFAULT_LOG_CAP = 8 * 1024 * 1024
# The longest stdout line a reader is given (an agent CLI's JSON event); a longer one is skipped.
DEFAULT_MAX_LINE = 8 * 1024 * 1024


class Tail:
    """Keeps the last `limit` bytes of a stream."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]


class HeadTail:
    """Keeps the first `head` and the last `tail` bytes of a stream, whatever its size: the
    output of a user's command (a check, setup, the integration check), held in memory until
    it ends, never more than `head + tail` bytes (and a few more, below). `data` marks what was
    elided.

    Output masked after it ends (models/redact.py) would show a value that the elision cut
    through as two pieces that match nothing: with `secrets` (value -> name), `data` masks the
    head and the tail before the middle goes, each with `cut_reach` bytes beyond its edge kept
    to see a value the edge cuts through, which is shown as its mask."""

    def __init__(self, head: int, tail: int, secrets: Mapping[str, str] | None = None) -> None:
        self.head = bytearray()
        self.head_limit = head
        self.secrets = secrets or {}
        self._reach = cut_reach(self.secrets) if self.secrets else 0
        self._ahead = bytearray()  # the first `_reach` bytes after the head
        self._tail_limit = tail
        self._tail = Tail(tail + self._reach)
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            if len(self._ahead) < self._reach:
                self._ahead += chunk[: self._reach - len(self._ahead)]
            self._tail.add(chunk)

    def _shown_tail(self) -> int:
        return min(len(self._tail.data), self._tail_limit)

    @property
    def dropped(self) -> int:
        return self.total - len(self.head) - self._shown_tail()

    @property
    def data(self) -> bytes:
        head, tail = bytes(self.head), bytes(self._tail.data)
        if not self.dropped:
            return head + tail
        shown = self._shown_tail()
        if self.secrets:
            head, _, head_end = mask_bytes_window(head + bytes(self._ahead), self.secrets, 0, len(head))
            # what is before the tail shown: the rest of the stream after the head, or the bytes
            # of it the tail keeps beyond its limit (`_reach` of them)
            behind = bytes(self.head) if self.total - len(self.head) == len(tail) else b""
            context = behind + tail
            masked = mask_bytes_window(context, self.secrets, len(context) - shown, len(context))
            tail = masked[0]
            dropped = self.total - head_end - (len(context) - masked[1])
        else:
            tail, dropped = tail[len(tail) - shown:], self.dropped
        marker = f"\n[launcher: {dropped} bytes elided from the middle of this output]\n".encode()
        return head + marker + tail


# What is kept of each stream of a user's command (check, setup, integration check): its start
# and its end, the middle elided; callers show a few thousand characters of the end at most, so a
# check that prints gigabytes costs the launcher no more memory than one that prints a line.
COMMAND_KEEP = 1024 * 1024
COMMAND_KEEP_HEAD = 256 * 1024


def kept_stream(limit: int, head: int = 0, secrets: Mapping[str, str] | None = None) -> Tail | HeadTail:
    """The last `limit` bytes of a stream, or with `head` its first `head` and last `limit - head`
    (`secrets`: masked in what is kept, see HeadTail)."""
    return HeadTail(head, limit - head, secrets) if head > 0 else Tail(limit)


class CappedLog:
    """A log file that keeps the head up to its cap and the tail; the middle is elided.

    It appends: the cap bounds what this log writes (about `cap` bytes plus one marker line),
    not what the file held before.
    """

    def __init__(self, path: Path, cap: int = DEFAULT_LOG_CAP) -> None:
        make_private_dirs(path.parent)
        self.path = path
        self.tail_cap = max(cap // 4, 1)
        self.head_cap = cap - self.tail_cap
        self._file = open_log(path)
        self._head_written = 0
        self._tail = Tail(self.tail_cap)
        self.dropped = 0

    def write(self, chunk: bytes) -> None:
        room = self.head_cap - self._head_written
        if room > 0:
            part = chunk[:room]
            self._file.write(part)
            self._file.flush()
            self._head_written += len(part)
            chunk = chunk[room:]
        if chunk:
            before = len(self._tail.data)
            self._tail.add(chunk)
            self.dropped += before + len(chunk) - len(self._tail.data)

    def close(self) -> None:
        if self._file.closed:
            return
        if self._tail.data:
            if self.dropped:
                marker = f"\n[launcher: {self.dropped} bytes elided from the middle of this log]\n"
                self._file.write(marker.encode())
            self._file.write(bytes(self._tail.data))
        self._file.close()

    @property
    def truncated(self) -> bool:
        return self.dropped > 0


def open_log(path: Path) -> BinaryIO:
    """`path` opened for appending, only as a regular file: a log lies where an agent can write
    (a task's artifacts), and a FIFO there would block `open()` for ever. A FIFO, a symbolic
    link (never followed) or a directory found at the log's path is removed first."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(path, ignore_errors=True)
        elif not stat.S_ISREG(info.st_mode):
            path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    return os.fdopen(open_private(path, flags), "ab")  # agent output: private (private_files.py)


class LineFeed:
    """Hands every complete line of a stream (without its newline) to `reader` as it streams,
    holding at most `max_line` bytes of an unfinished line: a longer line is skipped and counted
    (`overlong`), never buffered whole, so memory stays bounded whatever the stream's size.

    `reader` is someone else's code (an adapter parsing its CLI's events): if it raises, the
    first error is kept (`error`) and it is called no more, so the stream is still read, logged
    and its process supervised."""

    def __init__(self, reader: Callable[[bytes], None], max_line: int = DEFAULT_MAX_LINE) -> None:
        self._reader = reader
        self.max_line = max_line
        self._partial = bytearray()
        self._skipping = False  # inside a line longer than max_line
        self.lines = 0
        self.overlong = 0
        self.error: Exception | None = None

    def add(self, chunk: bytes) -> None:
        start = 0
        while (cut := chunk.find(b"\n", start)) >= 0:
            self._end_line(chunk[start:cut])
            start = cut + 1
        rest = chunk[start:]
        if self._skipping or not rest:
            return
        if len(self._partial) + len(rest) > self.max_line:
            self._partial.clear()
            self._skipping = True
            self.overlong += 1
        else:
            self._partial += rest

    def close(self) -> None:
        """The stream ended: a last line without a newline is a line too."""
        if self._partial and not self._skipping:
            line = bytes(self._partial)
            self._partial.clear()
            self._deliver(line)
        self._partial.clear()
        self._skipping = False

    def _end_line(self, piece: bytes) -> None:
        if self._skipping:  # the end of a line already counted as overlong
            self._skipping = False
            return
        if self._partial:
            if len(self._partial) + len(piece) > self.max_line:
                self._partial.clear()
                self.overlong += 1
                return
            self._partial += piece
            piece = bytes(self._partial)
            self._partial.clear()
        elif len(piece) > self.max_line:
            self.overlong += 1
            return
        self._deliver(piece)

    def _deliver(self, line: bytes) -> None:
        self.lines += 1
        if self.error is not None:
            return
        try:
            self._reader(line)
        except Exception as exc:  # the reader's fault: kept, reported by the caller
            self.error = exc
