"""Progress lines written by a thread of their own, never by the event loop's.

A write to a pipe or a terminal blocks while its reader does not read (`| less` not scrolled, a
log shipper under back-pressure, Ctrl-S): done on the event loop, it held up everything else
(agents' watchdogs and output, a Ctrl-C or SIGTERM) for as long. Here the caller only queues a
line; a writer thread writes the queue out to the stream's file descriptor. When the reader is
so slow that `capacity` lines wait, later lines are dropped and counted, and a note says how many
once the writer gets through again. `close()` writes out what is queued (the run's end: blocking
there is fine, the summary follows); `abandon()` waits at most `grace_s` for it (a stop: the
output must never hold it up).

The thread writes with `os.write` to the stream's descriptor, not through the stream: a write
stuck in the stream's buffer would hold its lock, and Python's own flush of stdout at exit would
then wait on that lock for ever. Only a write that failed (which returns at once) is handed to the
stream, so that its own handling applies (a reader gone, a full disk said by the command).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import threading
from collections import deque
from typing import TextIO

from launcher.bounded_write import write_bounded

CAPACITY = 2000


def stream_fd(stream: TextIO) -> int | None:
    """The file descriptor behind `stream`, or None for an in-memory one (a StringIO, a test's
    capture), which never blocks and is written to directly."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


class LineWriter:
    """Queues lines for `fd` (the descriptor of `stream`, whose encoding is used)."""

    # Where the lines dropped for a slow reader can be seen, said in the note that counts them.
    shows_all = "`launcher status` shows every task"

    def __init__(self, stream: TextIO, fd: int, capacity: int = CAPACITY) -> None:
        self._fd = fd
        self._stream = stream
        self._encoding = getattr(stream, "encoding", None) or "utf-8"
        errors = getattr(stream, "errors", None) or "strict"
        try:
            codecs.lookup_error(errors)
        except LookupError:
            errors = "backslashreplace"
        self._errors = errors
        self._capacity = capacity
        self._queue: deque[str] = deque()
        self._cond = threading.Condition()
        self._dropped = 0  # since the writer last took the queue
        self.dropped_total = 0
        self._closed = False
        self._busy = False  # the writer holds lines it took and has not written yet
        self._gone = False  # the descriptor refused a write: nothing more is written
        with contextlib.suppress(OSError, ValueError):
            stream.flush()  # what the stream holds goes out before the first line
        self._thread = threading.Thread(target=self._run, name="launcher-progress-writer", daemon=True)
        self._thread.start()

    def write_line(self, line: str) -> None:
        """Queue `line` (without its newline); never blocks."""
        with self._cond:
            if self._closed or self._gone:
                return
            if len(self._queue) >= self._capacity:
                self._dropped += 1
                self.dropped_total += 1
                return
            self._queue.append(line + "\n")
            self._cond.notify()

    def close(self) -> None:
        """Write out every queued line, then stop the writer (blocks as long as the reader does)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            if self._gone:
                return  # abandoned: a writer still stuck in a write is not waited for
        self._thread.join()

    def drain(self) -> None:
        """Wait until what is queued has been written (before a question asked at the terminal:
        it comes after what was said)."""
        with self._cond:
            self._cond.wait_for(lambda: self._gone or (not self._queue and not self._busy))

    def abandon(self, grace_s: float = 1.0) -> None:
        """Stop queueing; give the queued lines `grace_s` to go out, and drop what is left."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            self._cond.wait_for(lambda: not self._queue and not self._busy, timeout=grace_s)
            self._queue.clear()
            self._gone = True

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closed or self._gone)
                if self._gone or (not self._queue and not self._dropped):
                    self._busy = False
                    self._cond.notify_all()
                    return
                lines = "".join(self._queue)
                self._queue.clear()
                dropped, self._dropped = self._dropped, 0
                self._busy = True
            if dropped:
                lines += (f"launcher: {dropped} progress line(s) not shown: the output's reader was too slow "
                          f"({self.shows_all})\n")
            ok = self._write(lines.encode(self._encoding, self._errors))
            with self._cond:
                self._busy = False
                if not ok:
                    self._gone = True
                self._cond.notify_all()

    def _tell_the_stream(self, data: bytes) -> None:
        """Hand what failed to the stream itself, once: its own handling of a failed output then
        applies (the process's stdout drops the rest when its reader has gone, and records any
        other failure so that the command says so); a failed write returns at once."""
        with contextlib.suppress(Exception):
            self._stream.write(data.decode(self._encoding, "replace"))
            self._stream.flush()

    def _write(self, data: bytes) -> bool:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except InterruptedError:
                continue
            except OSError:  # the reader has gone, or the output failed: the run goes on without it
                self._tell_the_stream(bytes(view))
                return False
            view = view[written:]
        return True


def write_text_bounded(stream: TextIO, text: str, grace_s: float = 2.0) -> bool:
    """`text` to `stream` as `write_bounded` writes (in the stream's encoding, to its descriptor,
    never through its buffer, whose lock a stuck write would hold until the interpreter's exit);
    an in-memory stream (a test's capture) is written directly."""
    fd = stream_fd(stream)
    if fd is None:
        with contextlib.suppress(Exception):
            stream.write(text)
            stream.flush()
        return True
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return write_bounded(fd, text.encode(encoding, "replace"), grace_s)


__all__ = ["CAPACITY", "LineWriter", "stream_fd", "write_bounded", "write_text_bounded"]
