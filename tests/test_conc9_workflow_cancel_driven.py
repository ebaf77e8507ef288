"""`launcher workflow cancel` while another launcher (the user's own `launcher resume RUN`,
`land`, `choose` or `grade`) drives a phase's run: refused, changing nothing, naming that
launcher and how to stop it; never a cancel that records the phase failed while the run goes on
and lands (README, Workflows: `resume` is refused the same way)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from launcher import process_identity
from tests.helpers import launcher_cli
from tests.test_workflows import _paused_at_build, wf_repo  # noqa: F401


def test_workflow_cancel_while_another_launcher_drives_the_phase_run_is_refused_and_changes_nothing(
    wf_repo: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    wid, state_file, run_id, before = _paused_at_build(wf_repo, tmp_path)
    db_file = wf_repo / ".launcher" / "launcher.db"

    # Another launcher drives the phase's run now (as a `launcher resume RUN` started by hand).
    holder = subprocess.Popen(["sleep", "60"])
    try:
        with sqlite3.connect(db_file) as db:
            db.execute(
                "UPDATE runs SET status='running', launcher_pid=?, launcher_started=? WHERE id=?",
                (holder.pid, process_identity.start_time(holder.pid), run_id),
            )
        refused = launcher_cli(wf_repo, "workflow", "cancel", wid)
        with sqlite3.connect(db_file) as db:
            run_row = db.execute("SELECT status, launcher_pid FROM runs WHERE id=?", (run_id,)).fetchone()
            tasks = dict(db.execute("SELECT task_id, state FROM tasks WHERE run_id=?", (run_id,)).fetchall())
    finally:
        holder.kill()
        holder.wait()

    said = refused.stdout + refused.stderr
    assert refused.returncode == 2, said
    assert f"pid {holder.pid}" in said and f"kill {holder.pid}" in said, said
    assert f"`launcher workflow cancel {wid}` again" in said, said
    assert state_file.read_text() == before  # not cancelled, its phase not recorded failed
    assert json.loads(state_file.read_text())["status"] == "paused"
    assert run_row == ("running", holder.pid)  # the other launcher's run: untouched
    assert "cancelled" not in tasks.values(), tasks
