"""The end of a sweep: its reports written, then `done`; a full disk said with what continues it.

A sweep is `done` only once its whole report set is in its run dir (README, Mutation sweeps):
when a file cannot be written (a full disk, a read-only or failing one) the sweep stays
`interrupted`, its verdicts kept in the journal, and the error names the file and the command
that finishes it (`launcher mutation sweep --resume ID`), never the run pipeline's `launcher
resume`, which knows nothing of sweeps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from launcher.app.mutation.history import PLANNED_FILE
from launcher.app.mutation.progress import resume_command
from launcher.app.mutation.reports import write_sweep_reports
from launcher.errors import EnvironmentProblem, disk_problem
from launcher.mutation.results import MutantRecord, SweepMeta
from launcher.store import mutants as store_mod
from launcher.store.mutants import MutantStore


def stopped_by_disk(exc: BaseException, sweep_id: str) -> EnvironmentProblem | None:
    """A full (read-only, failing) disk that stopped sweep `sweep_id` while its mutants ran: what
    to free, and the command that continues it; None: `exc` is not the disk's."""
    return disk_problem(exc, then=f"run `{resume_command(sweep_id)}` to continue it (the mutants settled so "
                                  "far are kept)")  # fmt: skip


async def finish(store: MutantStore, cwd: Path, out_dir: Path, meta: SweepMeta, records: Sequence[MutantRecord],
                 durations: dict[str, float]) -> list[Path]:  # fmt: skip
    """Write the sweep's reports, then mark it `done`; returns the files written. A report that
    cannot be written leaves the sweep `interrupted` (`mutation list` offers `--resume`)."""
    try:
        files = await write_sweep_reports(cwd, out_dir, meta, records, durations)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # the journal's own disk may be the full one
            store.set_sweep(meta.sweep_id, status=store_mod.INTERRUPTED)
        disk = disk_problem(exc, then=f"run `{resume_command(meta.sweep_id)}`: it writes them (the verdicts "
                                      "settled are kept: no mutant runs again unless its code, tests or "
                                      "configuration changed)")  # fmt: skip
        if disk is None:
            raise
        raise EnvironmentProblem(
            f"{disk.what}: the reports of sweep {meta.sweep_id} are incomplete; it stays interrupted until "
            "they are written",
            where=disk.where, fix=disk.fix, error_key=disk.error_key,
        ) from exc
    store.set_sweep(meta.sweep_id, status=store_mod.DONE)
    (out_dir / PLANNED_FILE).unlink(missing_ok=True)  # only an unfinished sweep needs its total
    return files
