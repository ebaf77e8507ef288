"""A workflow runner killed (kill -9) while it runs the project's test command for a phase's
`test/results.json` leaves that command running in its own session. The command is journaled
under the workflow as it starts, so the workflow's next `resume` (which runs the command again)
or its `cancel` kills the dead runner's copy: no orphan is left, and no two copies run side by side."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.app.workflow import engine
from tests.conftest import git, write_files
from tests.helpers import launcher_cli

ONE_PHASE = """name = "t"
description = "one tested phase"
keywords = ["t"]
[[phase]]
id = "test"
artifacts = ["test/results.json"]
[[phase.primary]]
role = "tester"
prompt = "test it"
"""


@pytest.fixture
def slow_test_repo(repo: Path, tmp_path: Path) -> Path:
    """The project's test command records its pid; its first run then runs on while `hold` exists."""
    pids, hold = tmp_path / "test-pids", tmp_path / "hold"
    write_files(
        repo,
        {
            "workflows/t.toml": ONE_PHASE,
            "launcher.toml": '[roles]\ndefault = "scripted"\n[workflow]\ntest_command = "python3 slowtest.py"\n',
            "slowtest.py": (
                f"import os, time\nfirst = not os.path.exists({str(pids)!r})\n"
                f"open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
                f"while first and os.path.exists({str(hold)!r}):\n    time.sleep(0.1)\n"
            ),
        },
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one tested phase")
    hold.write_text("")
    return repo


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _runner_killed_while_testing(repo: Path, tmp_path: Path) -> tuple[str, int]:
    """Start the workflow's phase in a runner, wait until its test command runs, kill -9 the
    runner (its process group; the test command runs in a session of its own)."""
    scripts: dict[str, Any] = {"test-tester": [{"write": "done.txt", "content": "tested\n"}]}
    wid = anyio.run(engine.create, repo, "t", {}, {"scripts": scripts}).id
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    runner = subprocess.Popen(
        [sys.executable, "-m", "launcher", "workflow", "next", wid, "--quiet"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    pids = tmp_path / "test-pids"
    deadline = time.time() + 60
    while not (pids.exists() and pids.read_text().strip()) and time.time() < deadline:
        time.sleep(0.1)
    assert pids.exists(), "the runner never started the test command"
    first = int(pids.read_text().split()[0])
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    assert _alive(first)  # the dead runner's test command runs on
    return wid, first


def test_resume_after_the_runner_died_in_the_test_command_kills_the_dead_runners_copy(
    slow_test_repo: Path, tmp_path: Path
) -> None:
    wid, first = _runner_killed_while_testing(slow_test_repo, tmp_path)
    try:
        status = json.loads(launcher_cli(slow_test_repo, "workflow", "status", wid, "--json").stdout)
        assert status["interrupted"] is True
        done = launcher_cli(slow_test_repo, "workflow", "resume", wid, "--json", timeout=90)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["status"] == "completed"
        assert not _alive(first), "the killed runner's test command is still running after resume"
        assert len((tmp_path / "test-pids").read_text().split()) == 2  # the resume ran the tests once more
        results = slow_test_repo / ".launcher" / "workflows" / wid / "test" / "results.json"
        assert json.loads(results.read_text())["passed"] is True
    finally:
        (tmp_path / "hold").unlink(missing_ok=True)
        if _alive(first):
            os.kill(first, signal.SIGKILL)


def test_cancel_after_the_runner_died_in_the_test_command_kills_the_dead_runners_copy(
    slow_test_repo: Path, tmp_path: Path
) -> None:
    wid, first = _runner_killed_while_testing(slow_test_repo, tmp_path)
    try:
        done = launcher_cli(slow_test_repo, "workflow", "cancel", wid, timeout=90)
        assert done.returncode == 0, done.stderr
        assert not _alive(first), "the killed runner's test command is still running after cancel"
    finally:
        (tmp_path / "hold").unlink(missing_ok=True)
        if _alive(first):
            os.kill(first, signal.SIGKILL)


@pytest.mark.parametrize("how", [(), ("--all",)], ids=["clean", "clean --all"])
def test_clean_after_the_runner_died_in_the_test_command_kills_the_dead_runners_copy(
    slow_test_repo: Path, tmp_path: Path, how: tuple[str, ...]
) -> None:
    """As `clean` reaps what a dead run's launcher left running: `clean` of the phase's run (the
    latest) and `clean --all` kill the dead runner's test command, and say so."""
    wid, first = _runner_killed_while_testing(slow_test_repo, tmp_path)
    try:
        done = launcher_cli(slow_test_repo, "clean", *how, timeout=90)
        assert done.returncode == 0, done.stderr
        assert not _alive(first), "the killed runner's test command is still running after clean"
        assert f"workflow {wid}'s dead runner" in done.stdout + done.stderr, done.stdout + done.stderr
    finally:
        (tmp_path / "hold").unlink(missing_ok=True)
        if _alive(first):
            os.kill(first, signal.SIGKILL)
