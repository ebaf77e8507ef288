"""`launcher status --exit-status` reports a run's outcome as an exit code; 0 says everything
landed. A run a launcher is still driving has no outcome yet: it exits 75 ("not finished yet,
ask again later", sysexits' EX_TEMPFAIL), never 0, so `status RUN --exit-status && deploy` does
not deploy work that has not landed. Plain `status` still exits 0 when it could show the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import git, launcher_cli

from launcher.errors import ExitCode


def _slow_plan(path: Path) -> Path:
    path.write_text(json.dumps({"task": [{
        "id": "slow", "agent": "scripted", "prompt": "p",
        "script": [{"write": "s.txt", "content": "s\n"}, {"sleep": 30}],
    }]}))
    return path


def _wait_until_running(repo: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        shown = launcher_cli(repo, "status", "--json")
        if shown.returncode == 0 and json.loads(shown.stdout)["status"] == "running":
            return
        time.sleep(0.2)
    raise AssertionError("the run never showed as running")


def test_status_exit_status_of_a_run_still_running_is_75_not_0(repo: Path, tmp_path: Path) -> None:
    plan = _slow_plan(tmp_path / "plan.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    running = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(plan), "--quiet"], cwd=repo, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_until_running(repo, time.monotonic() + 60)
        gated = launcher_cli(repo, "status", "--exit-status")
        assert "status: running" in gated.stdout, gated.stdout
        assert gated.returncode == ExitCode.NOT_FINISHED == 75, (gated.returncode, gated.stdout, gated.stderr)
        as_json = launcher_cli(repo, "status", "--json", "--exit-status")
        assert json.loads(as_json.stdout)["status"] == "running" and as_json.returncode == 75
        plain = launcher_cli(repo, "status")  # without --exit-status: 0, it showed the run
        assert plain.returncode == 0, plain.stderr
        assert "Merge slow" not in git(repo, "log", "--oneline", "main")  # nothing landed: no 0
    finally:
        os.killpg(running.pid, signal.SIGINT)
        running.wait(timeout=60)
    stopped = launcher_cli(repo, "status", "--exit-status")
    assert stopped.returncode == 130, stopped.stdout  # stopped: its code, as before


def test_status_help_names_the_code_of_a_run_still_running(repo: Path) -> None:
    shown = launcher_cli(repo, "status", "--help", env={"COLUMNS": "200"})
    assert shown.returncode == 0
    assert "75 still running" in " ".join(shown.stdout.split()), shown.stdout
