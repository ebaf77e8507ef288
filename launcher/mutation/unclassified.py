"""Mutants no test run could classify (issue 11, cause 2): retried broadly, then never silent.

A `RuntimeError` means the runner failed, not the tests: the selection did not resolve, a plugin
crashed, the fork machinery broke. Such a mutant is run again on the generic executor with the
whole suite (a fresh process on the real file) before it counts; what is still unclassified is
left out of the score, so the sweep says so: a line of the summary, a note naming each mutant
with the runner's own error, and exit status 3 (`EXIT_UNCLASSIFIED`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from launcher.mutation.executor import MutantJob
from launcher.mutation.model import MutantStatus

if TYPE_CHECKING:
    from launcher.mutation.results import MutantRecord

UNCLASSIFIED = frozenset({MutantStatus.RUNTIME_ERROR})
EXIT_UNCLASSIFIED = 3
_SHOWN = 5
# The exception line of a traceback (possibly behind pytest's INTERNALERROR> or E prefixes), or
# pytest's own `ERROR: ...` usage message.
_ERROR_LINE = re.compile(r"^(?:INTERNALERROR>\s*|E\s+)?((?:[\w.]+(?:Error|Exception|Exit)\b|ERROR:).*\S)\s*$",
                         re.MULTILINE)  # fmt: skip


def needs_broader_run(status: MutantStatus, job: MutantJob, executor: str) -> bool:
    """Whether a result should be retried with the whole suite on the generic executor."""
    return status in UNCLASSIFIED and job.mutant.valid and (bool(job.tests) or executor != "generic")


def whole_suite(job: MutantJob) -> MutantJob:
    """The same mutant with the whole suite, and the whole suite's time limit."""
    return replace(job, tests=[], timeout_s=max(job.timeout_s, job.suite_timeout_s))


def runner_error(output: str) -> str:
    """The runner's own error in a test run's output: its last exception or ERROR line."""
    found = _ERROR_LINE.findall(output)
    if found:
        return found[-1][:300]
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def unclassified_notes(records: Sequence[MutantRecord]) -> list[str]:
    """One note counting the unclassified mutants, naming the first few with their errors."""
    left = [r for r in records if r.status in UNCLASSIFIED]
    if not left:
        return []
    plural = "s" if len(left) != 1 else ""
    shown = "; ".join(f"#{r.mutant.index} {r.mutant.target}:{r.mutant.line}: {r.note}" for r in left[:_SHOWN])
    more = f" (and {len(left) - _SHOWN} more in summary.txt)" if len(left) > _SHOWN else ""
    return [f"{len(left)} mutant{plural} unclassified (RuntimeError), left out of the score: {shown}{more}"]
