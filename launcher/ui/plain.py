"""One plain line per state transition, for logs, pipes and `--quiet`."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from launcher.models.events import Event
from launcher.models.printable import one_line, printable
from launcher.ui.line_out import LineWriter, stream_fd


def clock(at: float) -> str:
    """Local wall-clock time of an event, `HH:MM:SS`."""
    return time.strftime("%H:%M:%S", time.localtime(at))


def format_event(event: Event) -> str | None:
    """The plain line for an event, or None when the event is not shown.

    - "state": `HH:MM:SS <task> <state> <message>`
    - "note":  `HH:MM:SS <task or '-'> note <message>`
    - "run":   `HH:MM:SS run <message>` (the run's own line: `run r-... on main`)
    - "output" (and anything else) is not shown.
    """
    if event.kind == "state":
        if event.state is None:
            return None
        word = event.state.value
    elif event.kind in ("note", "run"):
        word = event.kind
    else:
        return None
    task = printable(event.task_id or "-")
    parts = [clock(event.at), word] if event.kind == "run" else [clock(event.at), task, word]
    message = one_line(event.message)  # one event, one line; an agent's file name writes no line of its own
    if message:
        parts.append(message)
    return " ".join(parts)


class PlainView:
    """Writes and flushes one line per transition or note.

    On a stream with a file descriptor (the process's stdout or stderr) the lines are written by a
    thread of their own (`LineWriter`): a reader that does not read never holds up the caller (the
    event loop). `stop()` writes out what is queued; `abandon()` (a stop signal) waits for it only
    briefly."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._writer: LineWriter | None = None
        self._stopped = False

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def start(self, run_id: str, tasks: list[tuple[str, str, str]]) -> None:
        return None

    def handle(self, event: Event) -> None:
        line = format_event(event)
        if line is None or self._stopped:
            return
        if self._writer is None:
            fd = stream_fd(self.stream)
            if fd is not None:
                self._writer = LineWriter(self.stream, fd)
        if self._writer is not None:
            self._writer.write_line(line)
            return
        stream = self.stream
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe must not bring the run down

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._writer is not None:
            self._writer.close()

    def abandon(self) -> None:
        """The command is being stopped: what its reader has not taken within a second is dropped."""
        self._stopped = True
        if self._writer is not None:
            self._writer.abandon()


__all__ = ["PlainView", "clock", "format_event"]
