"""stdout and stderr as every command prints to them: whatever is printed (a summary, a table,
JSON, help) never fails on its way out.

- A character the terminal's encoding cannot show (a path `proj é` under `PYTHONIOENCODING=ascii`
  or a legacy locale) is written as a `\\u00e9` escape: readable in text, and still valid JSON
  (non-ASCII only ever appears inside JSON strings). Under a C locale, where Python keeps a file
  name's undecodable bytes as surrogates, those bytes are written back as they were.
- A reader that has gone (`launcher --help | head -1`) makes the rest of the output go to
  /dev/null: the command ends with its own exit code, never 1 from a broken pipe (README, "Task
  states and exit codes").
- A standard descriptor the command was started without (`launcher run plan.toml >&-`, `2>&-`,
  `<&-`: a cron line, a supervisor) is opened on /dev/null first (`reopen_closed`): what would go
  to a closed stdout or stderr is dropped, a closed stdin reads as empty (never a terminal), and
  progress meant for stderr never falls back to stdout.
- A command that is stopping (`bound`, cli/calls.py) gives a reader that takes nothing a bounded
  wait for what it still writes (its `--json` report, the final flush), then drops it: a stuck
  reader never keeps a stopped command alive.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import select
import sys
from typing import Any, cast

from launcher.bounded_write import write_bounded

ESCAPE = "launcher-escape"  # every character the encoding lacks as \uXXXX
ESCAPE_KEEP_BYTES = "launcher-escape-keep-bytes"  # the same, but surrogate-escaped bytes as they were


def _escaped(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if code > 0xFFFF:  # JSON's way: a surrogate pair
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)


def _escape(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return _escaped(exc.object[exc.start : exc.end]), exc.end


def _escape_keep_bytes(exc: UnicodeError) -> tuple[str | bytes, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    if all(0xDC80 <= ord(c) <= 0xDCFF for c in bad):  # a file name's bytes, kept by surrogateescape
        return bytes(ord(c) - 0xDC00 for c in bad), exc.end
    return _escaped(bad), exc.end


codecs.register_error(ESCAPE, _escape)
codecs.register_error(ESCAPE_KEEP_BYTES, _escape_keep_bytes)


def drop_fd(fd: int) -> None:
    """Point `fd` at /dev/null: what is still to be written for a reader that has gone is dropped."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError):
        pass


class OutputFailed(OSError):
    """stdout or stderr refused what was printed (a full disk, a terminal gone with EIO)."""

    said = False  # the command's error handler has told the user


_failures: list[OutputFailed] = []
_gone: set[int] = set()  # fds whose reader has gone (their output now goes to /dev/null)


def reader_gone(fd: int) -> bool:
    """Whether `fd`'s reader has gone: a write found the pipe broken, or (while nothing is
    written) the fd reports an error or hang-up (a pipe whose reader closed it, a terminal gone)."""
    if fd in _gone:
        return True
    try:
        poller = select.poll()
        poller.register(fd, 0)  # no event asked: only errors and hang-ups are reported
        events = poller.poll(0)
    except (OSError, ValueError, AttributeError):  # no poll() on this platform
        return False
    if any(revents & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, revents in events):
        _gone.add(fd)
        drop_fd(fd)
        return True
    return False


def unsaid_failure() -> OutputFailed | None:
    """An output failure something swallowed (a live view must not stop a run), not yet said."""
    return next((f for f in _failures if not f.said), None)


_bounded: dict[int, float] = {}  # fd -> how long a write waits for a reader that takes nothing


def bound(fd: int, grace_s: float) -> None:
    """From now on, a write to `fd` (1 or 2, once `install`ed) waits at most `grace_s` without its
    reader taking a byte; what is left is then dropped, and so is all that follows (the fd points at
    /dev/null). For a command that is stopping: its last output (a `--json` report, the final flush
    of stdout) must never keep it alive for a reader that does not read (a pipe nobody reads)."""
    _bounded[fd] = grace_s


class _ReaderMayGo(io.FileIO):
    """fd 1 or 2 for writing; when its reader has gone, the write is dropped, not an error. Any
    other failure is raised once, as OutputFailed (the command's error handler says it and
    exits 70), and the fd then points at /dev/null so no later flush fails again. Once `bound`,
    a write its reader does not take in time is dropped as one to a reader gone."""

    def write(self, data: Any) -> int:
        fd = self.fileno()
        try:
            if fd in _bounded and fd not in _gone:
                return self._write_bounded(fd, bytes(data), _bounded[fd])
            return super().write(data)
        except BrokenPipeError:
            _gone.add(fd)
            drop_fd(fd)
            return len(memoryview(data))
        except OSError as exc:
            drop_fd(fd)
            name = "stdout" if fd == 1 else "stderr" if fd == 2 else f"fd {fd}"
            failure = OutputFailed(exc.errno, f"cannot write the output to {name}: {exc.strerror}")
            _failures.append(failure)
            raise failure from exc

    @staticmethod
    def _write_bounded(fd: int, data: bytes, grace_s: float) -> int:
        failed: list[OSError] = []
        if write_bounded(fd, data, grace_s, failed) and not failed:
            return len(data)
        if failed:
            raise failed[0]  # as an unbounded write would have failed
        # Not taken in time: dropped (the thread stuck in its write ends with the process).
        _gone.add(fd)
        drop_fd(fd)
        return len(data)


def _safe(stream: Any, fd: int) -> Any:
    if not isinstance(stream, io.TextIOWrapper):
        return stream  # not the process's own stream (a test's capture): left as it is
    try:
        if stream.fileno() != fd:
            return stream
        stream.flush()
    except (OSError, ValueError):
        return stream
    errors = ESCAPE_KEEP_BYTES if stream.errors == "surrogateescape" else ESCAPE
    raw = _ReaderMayGo(fd, "wb", closefd=False)
    # As buffered as the stream it replaces: Python's stderr has no buffer under its text layer
    # (each write goes out at once), so neither does this one; a line written just before an
    # os._exit (entry.py, a Ctrl-C while starting) or a crash is never left in a buffer.
    unbuffered = not isinstance(getattr(stream, "buffer", None), io.BufferedWriter)
    return io.TextIOWrapper(
        raw if unbuffered else io.BufferedWriter(raw),
        encoding=stream.encoding,
        errors=errors,
        line_buffering=stream.line_buffering,
        write_through=stream.write_through,
    )


_closed_at_start: set[int] = set()


def closed_at_start() -> frozenset[int]:
    """Which of fds 0, 1, 2 the command was started without (`reopen_closed` put /dev/null there)."""
    return frozenset(_closed_at_start)


def _is_closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError as exc:
        return exc.errno == errno.EBADF
    return False


class _Nowhere(io.RawIOBase):
    """Reads nothing and takes every write: a standard stream when not even /dev/null opens."""

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return 0

    def write(self, data: Any) -> int:
        return len(memoryview(data))


def _stream_on(fd: int) -> io.TextIOWrapper:
    """A text stream on fd 0, 1 or 2 as Python makes one (stderr: no buffer, every write at once)."""
    try:
        raw: io.RawIOBase = io.FileIO(fd, "rb" if fd == 0 else "wb", closefd=False)
    except (OSError, ValueError):
        raw = _Nowhere()
    if fd == 0:
        return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8")
    if fd == 1:
        return io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")
    return io.TextIOWrapper(cast(Any, raw), encoding="utf-8", errors="backslashreplace", write_through=True)


def reopen_closed() -> None:
    """Open /dev/null onto each of fds 0, 1, 2 that the command was started without, and give
    Python (which made that stream None) a stream on it. Besides every print and read working,
    the next file the launcher opens (a log, a packet) can no longer become fd 1 or 2 and get
    every later line, its children's included."""
    for fd in (0, 1, 2):
        if not _is_closed(fd):
            continue
        try:
            null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            os.set_inheritable(fd, True)
        except OSError:
            pass  # no /dev/null: the stream below takes and gives nothing
        _closed_at_start.add(fd)
    if sys.stdin is None:
        sys.stdin = _stream_on(0)
    if sys.stdout is None:
        sys.stdout = _stream_on(1)
    if sys.stderr is None:
        sys.stderr = _stream_on(2)


def install() -> None:
    """Make sys.stdout and sys.stderr the safe streams above (once, at the command's start),
    after `reopen_closed`."""
    reopen_closed()
    buffer = getattr(sys.stdout, "buffer", None)
    if isinstance(getattr(buffer, "raw", None), _ReaderMayGo):
        return  # already
    sys.stdout = _safe(sys.stdout, 1)
    sys.stderr = _safe(sys.stderr, 2)
