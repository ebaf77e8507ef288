"""Ctrl-C (or a closed terminal's SIGHUP) during `launcher grade` leaves the run `interrupted`
(its task mid-check), not the status it had before the grade: `launcher resume` then finishes
the re-grade's round."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import launcher_cli

GRADER = {"judge": {"adapter": "scripted-grader", "set_env": {"LAUNCHER_GRADER_MODE": "always_satisfied"}}}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])  # Ctrl-C; the terminal closed
def test_ctrl_c_during_a_regrade_leaves_the_run_interrupted_and_resume_finishes_it(
        repo: Path, tmp_path: Path, signum: int) -> None:
    go = tmp_path / "go"
    go.touch()
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "task": [{"id": "a", "checks": [f"sh -c 'test -f {go} || sleep 30'"],
                  "script": [{"write": "a.txt", "content": "a\n"}]}],
        "run": {"grader": "judge"}, "agents": GRADER}))
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    go.unlink()  # the re-grade's check now waits

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    grade = subprocess.Popen([sys.executable, "-m", "launcher", "grade", run_id, "a"], cwd=repo, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                             # as from a terminal: a test run under `nohup` would pass SIGHUP on ignored
                             preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)["tasks"][0]["state"] != "checking":
        assert time.monotonic() < deadline and grade.poll() is None, "the re-grade never started its check"
        time.sleep(0.1)
    time.sleep(0.5)
    os.kill(grade.pid, signum)
    assert grade.wait(timeout=30) == 130

    shown = json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)
    assert shown["status"] == "interrupted", shown["status"]
    assert shown["tasks"][0]["state"] == "checking"

    go.touch()
    resumed = launcher_cli(repo, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["status"] == "succeeded" and report["tasks"][0]["state"] == "approved", report
