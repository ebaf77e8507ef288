"""A `launcher workflow resume` (or `next`) refused because another live launcher drives the
phase's run (the user's own `launcher resume RUN`) changes nothing in the workflow: it checks the
run's claim before it records itself as the workflow's runner, and the refusal names the command
the user ran."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from launcher import process_identity
from tests.helpers import launcher_cli
from tests.test_workflows import _paused_at_build, wf_repo  # noqa: F401


def test_a_refused_workflow_resume_leaves_the_paused_workflow_as_it_was(wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    wid, state_file, run_id, before = _paused_at_build(wf_repo, tmp_path)

    # Another launcher drives the phase's run now (as a `launcher resume RUN` started by hand).
    holder = subprocess.Popen(["sleep", "60"])
    try:
        with sqlite3.connect(wf_repo / ".launcher" / "launcher.db") as db:
            db.execute("UPDATE runs SET status='running', launcher_pid=?, launcher_started=? WHERE id=?",
                       (holder.pid, process_identity.start_time(holder.pid), run_id))
        refused = launcher_cli(wf_repo, "workflow", "resume", wid, "--retry-failed")
    finally:
        holder.kill()
        holder.wait()

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"launcher pid {holder.pid}" in refused.stderr
    assert f"run `launcher workflow resume {wid}` again" in refused.stderr
    assert state_file.read_text() == before  # no runner recorded, the phase's error and pause kept
    shown = json.loads(state_file.read_text())
    assert shown["status"] == "paused" and shown["paused_on"] == "build" and shown["runner_pid"] is None
