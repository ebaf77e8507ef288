"""`launcher mutation sweep --resume ID` while another live launcher runs that sweep (the same
command started twice, a CI retry): refused up front, exit 2, naming that launcher and how to stop
it; the sweep and its results are left to it (two launchers would run its mutants in the same
trees and blame the user's tests for each other's mutants)."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from helpers import ADULT_PROJECT, launcher_cli, swept_project

from launcher import process_identity


def test_resuming_a_sweep_another_launcher_runs_is_refused_naming_it(tmp_path: Path) -> None:
    root = swept_project(tmp_path / "p", ADULT_PROJECT, ["calc/core.py"])
    db_file = root / ".launcher" / "launcher.db"
    with sqlite3.connect(db_file) as db:
        sweep_id, results = db.execute(
            "SELECT id, (SELECT count(*) FROM mutation_results WHERE sweep_id = s.id) FROM mutation_sweeps s"
        ).fetchone()
    # Another launcher runs the sweep now (a `launcher mutation sweep --resume ID` in another terminal).
    holder = subprocess.Popen(["bash", "-c", "exec -a launcher sleep 60"])
    try:
        with sqlite3.connect(db_file) as db:
            db.execute("UPDATE mutation_sweeps SET status='running', pid=?, pid_started=? WHERE id=?",
                       (holder.pid, process_identity.start_time(holder.pid), sweep_id))
        refused = launcher_cli(root, "mutation", "sweep", "--resume", sweep_id)
        with sqlite3.connect(db_file) as db:
            after = db.execute("SELECT status, pid FROM mutation_sweeps WHERE id=?", (sweep_id,)).fetchone()
            results_after = db.execute(
                "SELECT count(*) FROM mutation_results WHERE sweep_id=?", (sweep_id,)
            ).fetchone()[0]
    finally:
        holder.kill()
        holder.wait()

    said = refused.stdout + refused.stderr
    assert refused.returncode == 2, said
    assert f"already running in launcher pid {holder.pid}" in said, said
    assert f"kill {holder.pid}" in said and f"--resume {sweep_id}" in said, said
    assert "flaky" not in said
    assert after == ("running", holder.pid)  # left to the launcher that runs it
    assert results_after == results
