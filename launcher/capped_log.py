"""Bounded output: the last bytes of a stream, and a log file that keeps its head and tail."""

from __future__ import annotations

from pathlib import Path

DEFAULT_LOG_CAP = 8 * 1024 * 1024


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


class CappedLog:
    """A log file that keeps the head up to its cap and the tail; the middle is elided.

    It appends: the cap bounds what this log writes (about `cap` bytes plus one marker line),
    not what the file held before.
    """

    def __init__(self, path: Path, cap: int = DEFAULT_LOG_CAP) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tail_cap = max(cap // 4, 1)
        self.head_cap = cap - self.tail_cap
        self._file = path.open("ab")
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
