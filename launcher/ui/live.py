"""The rich live table shown on a TTY while a run is in progress."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from launcher.models.events import Event
from launcher.models.printable import one_line, printable
from launcher.models.states import TaskState

COLUMNS = ("task", "role", "agent", "state", "round", "elapsed", "cost", "files", "verdict")

STATE_STYLES: dict[TaskState, str] = {
    TaskState.PENDING: "dim",
    TaskState.PROVISIONING: "cyan",
    TaskState.RUNNING: "bold cyan",
    TaskState.COLLECTED: "blue",
    TaskState.CHECKING: "magenta",
    TaskState.GRADING: "magenta",
    TaskState.NEEDS_REVISION: "yellow",
    TaskState.APPROVED: "green",
    TaskState.MERGED: "bold green",
    TaskState.BLOCKED: "red",
    TaskState.ESCALATED: "bold yellow",
    TaskState.CONFLICTED: "bold red",
    TaskState.FAILED: "bold red",
    TaskState.TIMED_OUT: "red",
    TaskState.CANCELLED: "dim red",
    TaskState.SKIPPED: "dim",
    TaskState.DEFERRED: "dim yellow",
    TaskState.TECH_DEBT: "yellow",
}

# Columns that must stay readable when the terminal is narrow; the rest shrink first.
_MIN_WIDTHS = {"state": 10, "verdict": 7}

# A verdict implied by the state when the event carries none.
_IMPLIED_VERDICT = {
    TaskState.NEEDS_REVISION: "revise",
    TaskState.APPROVED: "approve",
    TaskState.ESCALATED: "escalate",
}

_BAD_STATES = frozenset(
    {TaskState.FAILED, TaskState.TIMED_OUT, TaskState.BLOCKED, TaskState.CONFLICTED, TaskState.CANCELLED}
)


def format_elapsed(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _count_files(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list | tuple | set | frozenset | dict):
        return len(value)
    return None


@dataclass
class TaskRow:
    """What the live table knows about one task."""

    id: str
    role: str = ""
    agent: str = ""
    state: TaskState = TaskState.PENDING
    iteration: int | None = None
    started: float | None = None
    ended: float | None = None
    cost_usd: float | None = None
    files: int | None = None
    verdict: str | None = None
    message: str = ""

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.ended if self.ended is not None else now) - self.started


class LiveView:
    """A rich Live table refreshed 4 times a second from the run's events."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        console: Console | None = None,
        refresh_per_second: float = 4.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.console = console if console is not None else Console(file=stream)
        self.refresh_per_second = refresh_per_second
        self.run_id = ""
        self.rows: dict[str, TaskRow] = {}
        self.last_note = ""
        self._clock = clock
        self._lock = threading.RLock()
        self._live: Live | None = None

    # RunView -----------------------------------------------------------------------------

    def start(self, run_id: str, tasks: list[tuple[str, str, str]]) -> None:
        with self._lock:
            self.run_id = run_id or self.run_id
            for task_id, role, agent in tasks:
                row = self._row(task_id)
                row.role, row.agent = role, agent
        if self._live is None:
            self._live = Live(
                console=self.console,
                refresh_per_second=self.refresh_per_second,
                get_renderable=self.render,
                transient=False,
            )
            self._live.start()

    def handle(self, event: Event) -> None:
        with self._lock:
            if event.run_id and not self.run_id:
                self.run_id = event.run_id
            if event.kind == "state" and event.task_id and event.state is not None:
                self._apply_state(event)
            elif event.kind in ("note", "run") and event.message:
                label = event.task_id or ("run" if event.kind == "run" else "")
                text = one_line(event.message)
                self.last_note = f"{printable(label)}: {text}" if label else text

    def stop(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    # Rendering ---------------------------------------------------------------------------

    def render(self) -> RenderableType:
        with self._lock:
            now = self._clock()
            title = f"launcher run {self.run_id}" if self.run_id else "launcher run"
            table = Table(
                title=title,
                title_justify="left",
                box=box.SIMPLE_HEAD,
                show_edge=False,
                pad_edge=False,
                collapse_padding=True,
            )
            for name in COLUMNS:
                numeric = name in ("round", "elapsed", "cost", "files")
                table.add_column(
                    name,
                    justify="right" if numeric else "left",
                    no_wrap=name not in ("role", "agent"),
                    overflow="ellipsis",
                    min_width=_MIN_WIDTHS.get(name),
                )
            for row in self.rows.values():
                table.add_row(  # Text, not str: roles and agents are user text, never markup
                    Text(printable(row.id)),
                    Text(printable(row.role)),
                    Text(printable(row.agent)),
                    Text(row.state.value, style=STATE_STYLES.get(row.state, "")),
                    "" if row.iteration is None else str(row.iteration),
                    format_elapsed(row.elapsed(now)),
                    "" if row.cost_usd is None else f"${row.cost_usd:.2f}",
                    "" if row.files is None else str(row.files),
                    Text(printable(row.verdict or "")),
                )
            parts: list[RenderableType] = [table, self.progress_line()]
            if self.last_note:
                parts.append(Text(self.last_note, style="dim", overflow="ellipsis", no_wrap=True))
            return Group(*parts)

    def progress_line(self) -> Text:
        with self._lock:
            total = len(self.rows)
            done = sum(1 for r in self.rows.values() if r.state.is_final)
            bad = sum(1 for r in self.rows.values() if r.state in _BAD_STATES)
            active = sum(
                1 for r in self.rows.values() if not r.state.is_final and r.state is not TaskState.PENDING
            )
        line = Text(f"{done} of {total} done", style="bold")
        if active:
            line.append(f" · {active} active", style="cyan")
        if bad:
            line.append(f" · {bad} failed", style="red")
        return line

    # Internals ---------------------------------------------------------------------------

    def _row(self, task_id: str) -> TaskRow:
        row = self.rows.get(task_id)
        if row is None:
            row = self.rows[task_id] = TaskRow(task_id)
        return row

    def _apply_state(self, event: Event) -> None:
        assert event.task_id is not None and event.state is not None
        row = self._row(event.task_id)
        state = event.state
        row.state = state
        row.message = event.message
        if state is not TaskState.PENDING and row.started is None:
            row.started = event.at
        if state.is_final:
            if row.ended is None and row.started is not None:
                row.ended = event.at
        else:
            row.ended = None  # resumed or re-run
        data = event.data or {}
        iteration = data.get("iteration")
        if isinstance(iteration, int) and not isinstance(iteration, bool):
            row.iteration = iteration
        cost = data.get("cost_usd")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            row.cost_usd = float(cost)
        files = _count_files(data.get("files"))
        if files is not None:
            row.files = files
        verdict = data.get("verdict")
        if verdict:
            row.verdict = str(verdict)
        elif state in _IMPLIED_VERDICT:
            row.verdict = _IMPLIED_VERDICT[state]


__all__ = ["COLUMNS", "STATE_STYLES", "LiveView", "TaskRow", "format_elapsed"]
