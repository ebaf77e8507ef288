"""Workflows tell the truth and never run twice: a cancelled phase whose run had already landed,
concurrent `next`, `plan --write` over existing files, templates fixed at `start`, hostile
parameters, step plans checked at `start`, tasks credited to their own phase, coverage under the
project's interpreter, stale error files, reserved template names, `parallel_with` and internal
errors. Real repositories, real subprocesses, the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import git, write_files
from tests.helpers import launcher_cli
from tests.test_workflows import _scripts, wf_repo  # noqa: F401  (the fixture)

ONE_PHASE = '''name = "one"
[[phase]]
id = "test"
artifacts = ["test/results.json"]
[[phase.primary]]
role = "tester"
prompt = "test it"
'''


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _wait_file(path: Path, limit: float = 60) -> None:
    deadline = time.time() + limit
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert path.exists(), path


def _slow_test_command(repo: Path, started: Path, release: Path) -> None:
    """The project's test command says it started, then waits for `release`."""
    write_files(repo, {
        "workflows/one.toml": ONE_PHASE,
        "slowtest.py": (f"import os, time\nopen({str(started)!r}, 'w').close()\n"
                        f"for _ in range(1200):\n    if os.path.exists({str(release)!r}):\n        break\n"
                        "    time.sleep(0.05)\n"),
        "launcher.toml": '[roles]\ndefault = "scripted"\n[workflow]\ntest_command = "python3 slowtest.py"\n',
    })
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a slow test command")


# 1 -------------------------------------------------------------------------------------------

def test_cancel_after_a_phase_landed_reports_it_landed_and_keeps_its_run_succeeded(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    started, release = tmp_path / "tests-started", tmp_path / "release"
    _slow_test_command(wf_repo, started, release)
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps({"test-tester": [{"write": "tests/test_new.py", "content": "# new\n"}]}))
    made = launcher_cli(wf_repo, "workflow", "start", "one", "--no-run", "--json", "--scripts", str(scripts))
    wid = json.loads(made.stdout)["id"]
    runner = subprocess.Popen([sys.executable, "-m", "launcher", "workflow", "next", wid, "--quiet"], cwd=wf_repo,
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        _wait_file(started)  # the phase's run landed; its test results are being written
        os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
        assert "tests/test_new.py" in git(wf_repo, "ls-tree", "-r", "--name-only", "main")
        done = launcher_cli(wf_repo, "workflow", "cancel", wid, "--json")
    finally:
        release.write_text("")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    phase = data["phases"][0]
    assert data["status"] == "cancelled"
    assert phase["status"] == "succeeded" and phase["error"] is None
    assert phase["tasks"] == [{"id": "test-tester", "role": "tester", "agent": "scripted", "state": "merged",
                               "merged": True}]
    assert "had already landed on main" in data["message"] and "nothing of it lands" not in data["message"]
    run = json.loads(launcher_cli(wf_repo, "status", phase["run_id"], "--json").stdout)
    assert run["status"] == "succeeded" and "nothing of this run lands" not in (run.get("message") or "")
    assert "tests/test_new.py" in git(wf_repo, "ls-tree", "-r", "--name-only", "main")
