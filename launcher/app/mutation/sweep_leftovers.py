"""For `launcher clean --all`: what a killed mutation sweep left besides its worker trees.

Every process a sweep's workers start carries its worker tree in LAUNCHER_MUTATION_WORKER (the
sweep's own reaper finds them by it after each mutant); a test command runs in a process group
of its own, so it outlives a launcher killed with -9 and would go on in a deleted tree, writing to
the user's environments. The sweep's site-install guard keeps its record in
`.launcher/mutation-guards/<sweep>/` (app/mutation/sweep_guard.py) until the sweep ends: a killed
sweep's test command may have left the user's venv pointing into a worker tree. Before the trees
of a sweep no launcher runs any more go, its processes are killed and those installs put back, as
`launcher clean` does for a run (app/clean.py `_clean_claimed`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import anyio

from launcher.engine import site_installs
from launcher.engine.orphans import kill_marked_under

GUARDS = "mutation-guards"
# The sweep's worker marker (launcher/mutation/run_env.py WORKER_MARKER_ENV; not imported: that
# module loads the mutation engine, which `launcher clean` does not need).
WORKER_MARKER_ENV = "LAUNCHER_MUTATION_WORKER"


def guard_record(state_dir: Path, sweep_id: str) -> Path:
    return state_dir / GUARDS / sweep_id / site_installs.RECORD


async def kill_left_running(sweep_id: str, sweep_dir: Path) -> list[str]:
    """Kill what the dead sweep's workers left running: the line saying so, if any."""
    killed = await anyio.to_thread.run_sync(kill_marked_under, WORKER_MARKER_ENV, sweep_dir)
    if not killed:
        return []
    return [f"killed {len(killed)} process(es) sweep {sweep_id}'s dead launcher left running (pid "
            f"{', '.join(map(str, sorted(killed)))}: its test commands and what they started)"]


async def put_back_installs(state_dir: Path, sweep_id: str, sweep_dir: Path | None) -> list[str]:
    """Put back what the dead sweep's test command re-pointed into its worker trees (`sweep_dir`;
    None: the folder its record names), then drop its record and the record's folders once empty."""
    record = guard_record(state_dir, sweep_id)
    if not record.exists():
        return []
    lines = await site_installs.put_back_left(sweep_dir, record)
    for folder in (record.parent, record.parent.parent):
        with contextlib.suppress(OSError):  # another sweep's record still there: stays
            folder.rmdir()
    return [f"{line} (the test command of sweep {sweep_id} installed the project there from one of its worker "
            "trees)" for line in lines]  # fmt: skip


def recorded_sweeps(state_dir: Path) -> list[str]:
    """The sweeps whose guard record is still there (their sweep running, or killed)."""
    return sorted(p.parent.name for p in (state_dir / GUARDS).glob(f"*/{site_installs.RECORD}"))
