"""`launcher clean --older-than DAYS`: the artifacts of old, settled runs removed.

Every run leaves `.launcher/runs/<run>/`: agent logs, contracts, round records, facts, grading
packets (about 10 KB per task with a one-line agent; a real agent's log is much larger). Once a
run is settled, nothing needs them but a person reading them: `launcher logs`, and `launcher
resume` (which reads its round records) only for a run it can still continue. So a run's folder
goes when all of these hold, and otherwise stays, with the reason said:

- it ended (its status last changed, as the journal recorded it) more than DAYS days ago, by
  the boot clock when it ended in this boot: a step of the wall clock since (NTP, a VM restored)
  neither makes a run that just ended look old nor an old one young (files' times are not asked:
  the wall clock stamps them);
- it `succeeded` or `failed` (not running, interrupted, parked), and no landing of it is left
  unfinished;
- each of its tasks is merged, or ended without work to keep (failed, timed out, conflicted,
  cancelled, skipped): none approved and not landed, deferred, tech debt, blocked, or still
  at work;
- it holds nothing in git any more: no branch, ref or worktree (`launcher clean --force` removes
  a failed or conflicted task's; the caller checks);
- its folder holds no file set aside from the main checkout (`intrusions/`: what was there when
  the launcher put the main checkout back, which may be the user's own).

The journal's rows of the run stay (`launcher runs` and `status` show it, and landing or
exporting later runs reads them); the report no longer names the folder once it is gone.
"""

from __future__ import annotations

import os
from pathlib import Path

from launcher import wall_clock
from launcher.app.context import STATE_DIR
from launcher.git.tree_trash import remove_dir
from launcher.models.states import RunStatus, TaskState
from launcher.store.journal import Journal, RunRow

DAY_S = 86_400.0
SETTLED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED})
# Tasks whose folder no longer serves anything: landed, or ended with no work to go on with.
ENDED = frozenset({TaskState.MERGED, TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CONFLICTED,
                   TaskState.CANCELLED, TaskState.SKIPPED})
_INTRUSIONS = "intrusions"  # app/run/containment.py INTRUSIONS_DIR


def run_folder(repo_root: Path, run_id: str) -> Path:
    return repo_root / STATE_DIR / "runs" / run_id


def old_folder(repo_root: Path, run: RunRow, older_than_days: float) -> Path | None:
    """The run's folder when it is there and the run ended more than `older_than_days` ago."""
    folder = run_folder(repo_root, run.id)
    if not folder.is_dir() or folder.is_symlink():
        return None
    if wall_clock.elapsed(run.updated_at, run.updated_boot, run.updated_since_boot) < older_than_days * DAY_S:
        return None
    return folder


def why_kept(journal: Journal, run_id: str, status: RunStatus, folder: Path) -> str | None:
    """Why the folder of a run (whose status before this command's claim was `status`) must
    stay; None: it may go. The caller has checked that the run holds nothing in git."""
    if status is RunStatus.RUNNING or status is RunStatus.INTERRUPTED:
        return f"the run was not finished: `launcher resume {run_id}` continues it from them"
    if status is RunStatus.PARKED:
        return f"its approved work is parked, not landed (`launcher land {run_id}`)"
    if status not in SETTLED:
        return f"the run is {status.value}"
    landing = journal.landing(run_id)
    if landing is not None and not landing.get("done"):
        return f"its landing was left unfinished (`launcher resume {run_id}` finishes it)"
    for row in journal.tasks(run_id):
        if row.state not in ENDED:
            what = "approved and not landed" if row.state is TaskState.APPROVED else row.state.value
            return f"task {row.task_id} is {what}"
    aside = sorted(p for p in folder.rglob(_INTRUSIONS) if p.is_dir() and not p.is_symlink())
    if aside:
        return (f"it holds what was set aside from the main checkout ({aside[0]}); look at it, then "
                f"delete {folder} yourself")
    return None


def trim(folder: Path, run_id: str) -> str:
    """Remove the run's folder; the line saying so (or what is left, and how to remove it)."""
    size = _size(folder)
    problem = remove_dir(folder)
    if problem is not None:
        return problem
    return (f"artifacts of run {run_id} ({folder}, {size >> 10} KiB: logs, contracts, round records); "
            f"its journal rows stay (`launcher status {run_id}`)")


def kept_line(run_id: str, folder: Path, why: str) -> str:
    return f"kept the artifacts of run {run_id} ({folder}): {why}"


def _size(folder: Path) -> int:
    total = 0
    for place, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(place, name)).st_size
            except OSError:
                continue
    return total
