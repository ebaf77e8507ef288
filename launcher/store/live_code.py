"""Which other runs' code ran at a given time, read from a journal's `processes` table.

Every child a run starts that runs a task's code (agent, checks, setup, grader, integration
check; not the launcher's own git) is journaled with when it started and ended
(engine/orphans.py). Another run working on the same repository at the same time can write
where this run's agents must not (the main checkout, the shared git dir, the refs): a change
made while another run's code ran cannot be blamed on this run's task alone
(app/run/other_runs.py). Read-only, and only when a change was found.
"""

from __future__ import annotations

from pathlib import Path

from launcher import process_identity
from launcher.store.sqlite import read_only_rows


def other_runs_code(journal: Path, run_id: str, low: float, high: float) -> set[str]:
    """"task T of run R" (or "run R") for each process of a run other than `run_id` that ran at
    some time in [low, high] (wall clock). A process journaled as never ended counts while its
    run's launcher lives (one killed with -9 never marks its children ended)."""
    rows = read_only_rows(
        journal, "SELECT p.run_id, p.task_id, p.ended, r.launcher_pid, r.launcher_started FROM processes p "
        "LEFT JOIN runs r ON r.id = p.run_id WHERE p.run_id != ? AND p.started <= ? "
        "AND (p.ended IS NULL OR p.ended >= ?)", (run_id, high, low))
    found: set[str] = set()
    for run, task, ended, pid, started in rows or []:
        if ended is None and not (pid and process_identity.alive(int(pid), started)):
            continue
        found.add(f"task {task} of run {run}" if task else f"run {run}")
    return found
