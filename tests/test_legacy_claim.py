"""A run an older launcher journaled as running (a pid, no start time) whose launcher was killed:
a process that later got that pid, and is not a launcher, does not hold the run. `runs` and
`status` say interrupted, and `land`/`resume` take it over instead of advising to kill the pid."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from helpers import launcher_cli


def test_a_pid_alone_of_a_process_that_is_not_a_launcher_does_not_hold_the_run(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "t", "script": [{"write": "t.txt", "content": "t\n"}]}]}))
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    unrelated = subprocess.Popen(["sleep", "60"])  # the pid the kernel gave to someone else
    try:
        with sqlite3.connect(repo / ".launcher" / "launcher.db") as db:  # as the older launcher left it
            db.execute("UPDATE runs SET status='running', launcher_pid=?, launcher_started=NULL WHERE id=?",
                       (unrelated.pid, run_id))
        shown = json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)
        assert shown["status"] == "interrupted", shown["status"]
        landed = launcher_cli(repo, "land", run_id)
        assert landed.returncode == 0, landed.stdout + landed.stderr
        assert f"kill {unrelated.pid}" not in landed.stderr
        assert unrelated.poll() is None  # the unrelated process is left alone
    finally:
        unrelated.kill()
        unrelated.wait()
    assert (repo / "t.txt").read_text() == "t\n"
