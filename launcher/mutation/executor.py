"""The executor extension point: run the selected tests against one mutant, report its status.

One Protocol, one file per implementation: `executor_generic` (a pooled worker worktree: apply,
run the test command, restore; any language) and `executor_fork` (pytest: a warm worker that
forks per mutant and swaps the mutated function's code in memory). The sweep gives each worker
its own executor instance; both must give the same status for the same mutant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from launcher.mutation.model import Mutant, MutantStatus


@dataclass
class MutantJob:
    mutant: Mutant
    tests: list[str]  # test ids (pytest node ids) that execute the mutated line; [] = whole suite
    timeout_s: float  # derived from the measured baseline of those tests
    startup_s: float = 0.0  # the part of timeout_s that allows for a new process starting up
    suite_timeout_s: float = 0.0  # the limit for a run widened to the whole suite (0: timeout_s)
    # A selected test runs the mutated code in a child process that imports it from disk (a CLI
    # test, a spawn or forkserver worker): only an executor that writes the mutant there may run it.
    in_child: bool = False

    @property
    def warm_timeout_s(self) -> float:
        """The limit in an already warm process (a fork): no interpreter start, no imports."""
        return max(1.0, self.timeout_s - self.startup_s)


@dataclass
class MutantResult:
    mutant_id: str
    status: MutantStatus
    executor: str  # "generic" | "fork": recorded in the report
    duration_s: float
    killed_by: list[str] = field(default_factory=list)  # failing test ids, when known
    output_tail: str = ""
    # The tests whose run decided the verdict when it is not the job's selection (a narrowed
    # verdict checked against the suite, `selection_check`; [] = the whole suite): its result key
    # must cover their files too.
    decided_by: list[str] | None = None


class Executor(Protocol):
    name: str

    async def start(self) -> None:
        """Prepare the worker (a pooled worktree, a warm process)."""

    async def run(self, job: MutantJob) -> MutantResult:
        """Apply the mutant, run its tests, restore; never leave the mutant applied."""

    async def stop(self) -> None:
        """Release the worker; must be safe to call after a failed start."""
