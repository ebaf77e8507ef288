"""A sweep's progress for people: a bar with an ETA on a terminal, plain lines in a log.

Both say the phases before the first mutant runs (mutating the sources and measuring the suite
can take a while on a real project), the sweep's id at the start and how to continue it after
Ctrl-C. The bar keeps the screen for the mutants that need attention (a line each); the plain
form prints every mutant with the ETA.
"""

from __future__ import annotations

import time
from typing import TextIO, cast

from rich.console import Console
from rich.control import strip_control_codes
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from launcher.app.mutation.progress import resume_command
from launcher.app.mutation.setup import duration_text
from launcher.mutation.results import MutantRecord, progress_line
from launcher.ui.line_out import LineWriter, stream_fd


class _Common:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.sweep_id: str | None = None
        self._jobs = 0
        self._ran = 0
        self._run_started: float | None = None

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def phase(self, text: str) -> None:
        self.say(text)

    def started(self, sweep_id: str, total: int, settled: int, resumed: bool) -> None:
        self.sweep_id = sweep_id
        done = f"; {settled} done before, resuming" if resumed else ""
        self.say(f"sweep {sweep_id}: {total} mutants{done} (Ctrl-C stops it; `{resume_command(sweep_id)}` continues)")

    def running(self, jobs: int, workers: int) -> None:
        self._jobs, self._ran, self._run_started = jobs, 0, time.monotonic()
        self.say(f"mutants: {jobs} to run on {workers} worker(s)")

    def eta(self) -> str:
        """From the mutants run so far (not those settled without running)."""
        if self._run_started is None or not self._ran or self._ran >= self._jobs:
            return ""
        per_job = (time.monotonic() - self._run_started) / self._ran
        return f"ETA {duration_text(per_job * (self._jobs - self._ran))}"

    def interrupted(self) -> str:
        if self.sweep_id is None:
            return "interrupted before the sweep started: nothing to continue; run the sweep again"
        return f"interrupted: sweep {self.sweep_id} saved; `{resume_command(self.sweep_id)}` continues it"

    def close(self) -> None:
        return None


class _SweepLines(LineWriter):
    shows_all = "`launcher mutation report` lists every mutant"


class PlainProgress(_Common):
    """One line per phase and per mutant, the ETA at the end of each mutant's line.

    On a stream with a file descriptor (the process's stderr) the lines are written by a thread of
    their own (`LineWriter`), never on the sweep's event loop: a reader that does not read (`2>&1 |
    less` not scrolled, a log shipper under back-pressure) never holds up the sweep, nor a Ctrl-C or
    SIGTERM. `close()` writes out what is queued; a stop (`interrupted`) waits for it only briefly."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self._writer: LineWriter | None = None
        self._stopped = False

    def say(self, text: str) -> None:
        if self._stopped:
            return
        if self._writer is None:
            stream = cast(TextIO, self.console.file)
            fd = stream_fd(stream)
            if fd is None:  # an in-memory stream (a test's capture) never blocks
                super().say(text)
                return
            self._writer = _SweepLines(stream, fd)
        self._writer.write_line(strip_control_codes(text))

    def interrupted(self) -> str:
        self._stopped = True
        if self._writer is not None:
            self._writer.abandon()
        return super().interrupted()

    def close(self) -> None:
        self._stopped = True
        if self._writer is not None:
            self._writer.close()

    def settled(self, done: int, total: int, record: MutantRecord) -> None:
        if record.source == "run":
            self._ran += 1
        eta = self.eta()
        self.say(progress_line(done, total, record) + (f" - {eta}" if eta else ""))


class BarProgress(_Common):
    """A rich progress bar (done/total, elapsed, remaining); the mutants needing attention above it."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=console, transient=True)  # fmt: skip
        self.task: TaskID | None = None
        self._done = 0

    def started(self, sweep_id: str, total: int, settled: int, resumed: bool) -> None:
        super().started(sweep_id, total, settled, resumed)
        self.bar.start()
        self.task = self.bar.add_task("mutants", total=total, completed=settled)
        self._done = settled

    def running(self, jobs: int, workers: int) -> None:
        super().running(jobs, workers)
        if self.task is not None:  # the speed so far was of mutants settled without a run
            self.bar.reset(self.task, completed=self._done)

    def settled(self, done: int, total: int, record: MutantRecord) -> None:
        self._done = done
        if not record.status.detected:
            self.say(progress_line(done, total, record))
        if self.task is not None:
            self.bar.update(self.task, completed=done)

    def close(self) -> None:
        self.bar.stop()


def progress_for(console: Console) -> PlainProgress | BarProgress:
    """The bar on a terminal that redraws in place; plain lines elsewhere, a dumb terminal
    (TERM=dumb) included, where the bar would show nothing until the sweep has ended."""
    redraws = console.is_terminal and not console.is_dumb_terminal
    return BarProgress(console) if redraws else PlainProgress(console)
