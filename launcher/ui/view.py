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


def make_view(
    *, json_mode: bool, quiet: bool, stream: TextIO | None = None, err_stream: TextIO | None = None
) -> RunView:
    """Choose the view for a run.

    - `json_mode`: stdout is reserved for the JSON report, so the view writes nothing there:
      plain lines go to `err_stream` (default stderr) unless `quiet`, which makes it silent.
    - otherwise, a live table when `stream` (default stdout) is a TTY and not `quiet`;
      plain lines on `stream` in every other case.
    """
    from launcher.ui.plain import PlainView

    if json_mode:
        if quiet:
            return SilentView()
        return PlainView(err_stream if err_stream is not None else sys.stderr)
    out = stream if stream is not None else sys.stdout
    if not quiet and _is_tty(out):
        from launcher.ui.live import LiveView

        return LiveView(stream=out)
    return PlainView(out)


__all__ = ["RunView", "SilentView", "make_view"]
