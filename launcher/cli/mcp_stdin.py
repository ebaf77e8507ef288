"""What `launcher mcp` reads from its client: each line as sent, except text that JSON can carry
but Unicode cannot. A lone UTF-16 surrogate (`"\\udce9"`) or bytes that are not UTF-8 made the
SDK's reader drop the whole line, so the client waited forever for the reply. Such characters
become `INVALID_TEXT_MARK` here; the request goes through, and the tool refuses the argument
that holds one with a structured error naming it.

It is also how the server stops on a signal while its client keeps the pipe open: the SDK reads
stdin in a worker thread, blocked in a read the event loop waits for, so a SIGTERM ended the
serving but not the process, until the client closed its end. `stop()` ends the input at once,
as the client closing it would."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import select
import sys
from typing import Any, Protocol

from launcher.app.workflow.tool_args import INVALID_TEXT_MARK

_LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def clean_line(line: bytes) -> bytes:
    """`line` itself unless it holds a surrogate escape or bytes that are not UTF-8; then the same
    JSON with each character Unicode cannot hold replaced by the mark (a line that is not JSON
    is left for the SDK to answer). Only strings change: numbers stay as written (`1e400` is not
    turned into `Infinity`, which is not JSON, nor `0.10000000000000001` into `0.1`), and an
    object keeps its keys in order, repeated ones included, for the SDK to judge as sent."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if not _LONE_SURROGATE_ESCAPE.search(line):
            return line
    try:
        data = json.loads(line.decode("utf-8", "surrogateescape"), parse_float=_Number, parse_int=_Number,
                          parse_constant=_Number, object_pairs_hook=_Pairs)  # fmt: skip
    except ValueError:
        return line
    return _marked(data).encode("utf-8") + b"\n"


class _Number(str):
    """A JSON number (or a `NaN`/`Infinity` a lenient parser took) as the client wrote it."""


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's members in the order sent."""


def _marked(value: Any) -> str:
    """`value` (as `clean_line` parses it) written back as JSON, its strings marked."""
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, str):
        text = "".join(INVALID_TEXT_MARK if "\ud800" <= ch <= "\udfff" else ch for ch in value)
        return json.dumps(text, ensure_ascii=False)
    if isinstance(value, _Pairs):
        return "{" + ", ".join(f"{_marked(key)}: {_marked(item)}" for key, item in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_marked(item) for item in value) + "]"
    return json.dumps(value)  # true, false, null


class _LineSource(Protocol):
    def readline(self) -> bytes: ...


class StoppableLines:
    """The lines of file descriptor `fd`, read so that `stop()` (from a signal handler, in
    another thread than the reader) ends them: the read waits on the descriptor and on a pipe
    of its own, and returns b"" (end of input) once the pipe is written."""

    _CHUNK = 1 << 16

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._buffer = bytearray()
        self._start = 0  # where the next line begins in the buffer
        self._scanned = 0  # how far past _start no newline was found
        self._ended = self._stopped = False

    def stop(self) -> None:
        """End the input now (safe in a signal handler)."""
        self._stopped = True
        with contextlib.suppress(OSError):  # already written: the pipe is full, the reader wakes anyway
            os.write(self._wake_write, b"x")

    def readline(self) -> bytes:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        while not self._stopped:
            at = self._buffer.find(b"\n", self._start + self._scanned)
            if at >= 0 or (self._ended and self._start < len(self._buffer)):
                end = at + 1 if at >= 0 else len(self._buffer)
                line = bytes(self._buffer[self._start:end])
                self._start, self._scanned = end, 0
                if self._start > len(self._buffer) // 2:  # keep the buffer short: drop what was read
                    del self._buffer[:self._start]
                    self._start = 0
                return line
            if self._ended:
                return b""
            self._scanned = len(self._buffer) - self._start
            ready = {fd for fd, _ in poller.poll()}
            if self._wake_read in ready:
                break
            try:
                chunk = os.read(self._fd, self._CHUNK)
            except BlockingIOError:  # a descriptor its owner made non-blocking: wait again
                continue
            if chunk:
                self._buffer += chunk
            else:
                self._ended = True
        return b""


class _CleanLines(io.RawIOBase):
    """A read-only byte stream of `source`'s lines, each through `clean_line`."""

    def __init__(self, source: _LineSource) -> None:
        super().__init__()
        self._source, self._pending, self._given = source, b"", 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._given >= len(self._pending):
            line = self._source.readline()
            if not line:
                return 0
            self._pending, self._given = clean_line(line), 0
        # an offset, not a copy of the rest per read: a 10 MB line is read in 8 KiB pieces
        size = min(len(buffer), len(self._pending) - self._given)
        buffer[:size] = memoryview(self._pending)[self._given:self._given + size]
        self._given += size
        return size


_lines: StoppableLines | None = None


def install() -> None:
    """Serve the SDK's stdio transport through `clean_line` (it reads `sys.stdin`), from fd 0
    through a `StoppableLines` (a stream not backed by a descriptor is read in place, and
    `stop` cannot end it)."""
    global _lines
    source: _LineSource = sys.stdin.buffer
    try:
        fd = sys.stdin.buffer.fileno()
    except (AttributeError, OSError, ValueError):
        pass
    else:
        source = _lines = StoppableLines(fd)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(_CleanLines(source)), encoding="utf-8")


def stop() -> None:
    """End the server's input now, as the client closing it would (safe in a signal handler)."""
    if _lines is not None:
        _lines.stop()
