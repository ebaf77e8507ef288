"""The sweep's equivalence pre-filter step (DESIGN 15): before anything runs, the mutants the
compiler proves equivalent to the original (or to an earlier mutant) are settled as Ignored,
with the reason; the rest keep their class (docstring-only, annotation-only) for the reports."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from launcher.mutation.equivalence import FILTERED, prefilter
from launcher.mutation.executor_generic import TestCommand
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.results import MutantRecord
from launcher.mutation.run_env import child_env


async def prefilter_records(
    root: Path, mutants: Sequence[Mutant], command: TestCommand
) -> tuple[list[MutantRecord], dict[str, str], str]:
    """(the settled records, every finding's class by mutant id, a summary line or "")."""
    levels = (-1,) if command.is_pytest else (0, 1, 2)  # a custom command may run `python -O`
    found, said = await prefilter(root, mutants, command.python, child_env(), levels)
    settled = [
        MutantRecord(m, MutantStatus.IGNORED, "none", source="static", note=found[m.id].reason,
                     equivalence=found[m.id].kind)
        for m in mutants if m.id in found and found[m.id].kind in FILTERED
    ]  # fmt: skip
    return settled, {mutant_id: finding.kind for mutant_id, finding in found.items()}, said
