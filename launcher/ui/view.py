"""The view the CLI drives during a run, and the choice of which one (TTY, plain, JSON)."""

from __future__ import annotations

import sys
from typing import Protocol, TextIO, runtime_checkable

from launcher.models.events import Event


@runtime_checkable
class RunView(Protocol):
    """Receives the run's events; nothing in the engine prints."""

    def start(self, run_id: str, tasks: list[tuple[str, str, str]]) -> None:
        """Begin showing a run; `tasks` are (task id, role, agent), possibly empty."""
        ...

    def handle(self, event: Event) -> None:
        """Show one event. Must never raise for unknown tasks or kinds."""
        ...

    def stop(self) -> None:
        """Finish showing the run (idempotent)."""
        ...


class SilentView:
    """Shows nothing: `--json --quiet`, where stdout carries only the JSON report."""

    def start(self, run_id: str, tasks: list[tuple[str, str, str]]) -> None:
        return None

    def handle(self, event: Event) -> None:
        return None

    def stop(self) -> None:
        return None


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def can_redraw(stream: TextIO) -> bool:
    """`stream` is a terminal that rich's live display redraws in place: a TTY that is not dumb
    (TERM=dumb or unknown: Emacs `M-x shell`, some CI pseudo-terminals, which would show the
    table only once, when the run has ended)."""
    from rich.console import Console

    if not _is_tty(stream):
        return False
    console = Console(file=stream)
    return console.is_terminal and not console.is_dumb_terminal


def make_view(
    *, json_mode: bool, quiet: bool, stream: TextIO | None = None, err_stream: TextIO | None = None
) -> RunView:
    """Choose the view for a run.

    - `json_mode`: stdout is reserved for the JSON report, so the view writes nothing there:
      plain lines go to `err_stream` (default stderr) unless `quiet`, which makes it silent
      (so is a missing stderr: progress never falls back to stdout).
    - otherwise, a live table when `stream` (default stdout) is a terminal that can redraw
      (`can_redraw`) and not `quiet`; plain lines on `stream` in every other case.
    """
    from launcher.ui.plain import PlainView

    if json_mode:
        err = err_stream if err_stream is not None else sys.stderr
        if quiet or err is None:
            return SilentView()
        return PlainView(err)
    out = stream if stream is not None else sys.stdout
    if not quiet and can_redraw(out):
        from launcher.ui.live import LiveView

        return LiveView(stream=out)
    return PlainView(out)


__all__ = ["RunView", "SilentView", "can_redraw", "make_view"]
