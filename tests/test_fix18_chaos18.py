"""SIGKILL at a chosen moment, then `launcher resume`: the resumed run ends as the
uninterrupted one would."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from helpers import git, launcher_cli, start_launcher, wait_for_file


def test_a_scripted_round_killed_after_its_commit_step_is_replayed_on_resume_and_lands(
    repo: Path, tmp_path: Path
) -> None:
    # The agent commits, then is killed (with its launcher's whole process group) before it
    # finishes. `resume` keeps that commit on the task's branch and runs the round again from
    # the top: the replayed `commit` step finds nothing new to commit, which is no failure (a
    # real agent would see its work committed and go on), so the task lands as it would have.
    marker = tmp_path / "agent-committed"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "mul", "agent": "scripted", "script": [
        {"write": "mul.py", "content": "def mul(a, b):\n    return a * b\n"},
        {"commit": "add mul"},
        {"run": ["sh", "-c", f"[ -e {marker} ] || {{ touch {marker}; sleep 60; }}"]},
        {"write": "notes.txt", "content": "mul added\n"},
    ]}]}))  # fmt: skip
    run = start_launcher(repo, "run", str(plan), "--quiet")
    try:
        wait_for_file(marker, run)
        os.killpg(run.pid, signal.SIGKILL)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()

    resumed = launcher_cli(repo, "resume", "--json")
    report = json.loads(resumed.stdout)
    (task,) = report["tasks"]
    assert resumed.returncode == 0, task["message"]
    assert (report["status"], task["state"], task["merged"]) == ("succeeded", "merged", True)
    assert (repo / "mul.py").exists() and (repo / "notes.txt").exists()
    assert git(repo, "log", "--format=%s", "main").splitlines().count("add mul") == 1
    assert git(repo, "status", "--porcelain") == ""
