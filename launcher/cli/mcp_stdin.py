"""What `launcher mcp` reads from its client: each line as sent, except text that JSON can carry
but Unicode cannot. A lone UTF-16 surrogate (`"\\udce9"`) or bytes that are not UTF-8 made the
SDK's reader drop the whole line, so the client waited forever for the reply. Such characters
become `INVALID_TEXT_MARK` here; the request goes through, and the tool refuses the argument
that holds one with a structured error naming it."""

from __future__ import annotations

import io
import json
import re
import sys
from typing import Any, BinaryIO

from launcher.app.workflow.actions import INVALID_TEXT_MARK

_LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def clean_line(line: bytes) -> bytes:
    """`line` itself unless it holds a surrogate escape or bytes that are not UTF-8; then the same
    JSON with each character Unicode cannot hold replaced by the mark (a line that is not JSON
    is left for the SDK to answer)."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if not _LONE_SURROGATE_ESCAPE.search(line):
            return line
    try:
        data = json.loads(line.decode("utf-8", "surrogateescape"))
    except ValueError:
        return line
    return json.dumps(_marked(data), ensure_ascii=False).encode("utf-8") + b"\n"


def _marked(value: Any) -> Any:
    if isinstance(value, str):
        return "".join(INVALID_TEXT_MARK if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    if isinstance(value, dict):
        return {_marked(k): _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    return value


class _CleanLines(io.RawIOBase):
    """A read-only byte stream of `source`'s lines, each through `clean_line`."""

    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self._source, self._pending = source, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            line = self._source.readline()
            if not line:
                return 0
            self._pending = clean_line(line)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def install() -> None:
    """Serve the SDK's stdio transport through `clean_line` (it reads `sys.stdin.buffer`; a
    stream not backed by fd 0 is read in place)."""
    sys.stdin = io.TextIOWrapper(io.BufferedReader(_CleanLines(sys.stdin.buffer)), encoding="utf-8")
