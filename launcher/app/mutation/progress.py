"""What a running sweep tells its user: the phases, its id at the start, each settled mutant.

The sweep calls a `SweepListener`; the command line renders it (a progress bar with an ETA on a
terminal, plain lines in a log). `LineListener` keeps the old contract for callers that only
want one line per settled mutant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from launcher.mutation.results import MutantRecord, progress_line


class SweepListener(Protocol):
    def phase(self, text: str) -> None:
        """A step before mutants run (generation, baseline and coverage, sanity probes...)."""

    def started(self, sweep_id: str, total: int, settled: int, resumed: bool) -> None:
        """The sweep's id is known: `settled` of `total` mutants are already done (a resume)."""

    def running(self, jobs: int, workers: int) -> None:
        """The mutants that need a test run start: `jobs` of them on `workers` workers."""

    def settled(self, done: int, total: int, record: MutantRecord) -> None:
        """One more mutant has its status (`done` of `total`)."""


class LineListener:
    """One progress line per settled mutant, nothing else."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit

    def phase(self, text: str) -> None:
        return None

    def started(self, sweep_id: str, total: int, settled: int, resumed: bool) -> None:
        return None

    def running(self, jobs: int, workers: int) -> None:
        return None

    def settled(self, done: int, total: int, record: MutantRecord) -> None:
        self.emit(progress_line(done, total, record))


def resume_command(sweep_id: str) -> str:
    return f"launcher mutation sweep --resume {sweep_id}"
