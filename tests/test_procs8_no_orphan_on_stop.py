"""No process an agent, grader or judge started survives the launcher, however its round ends:
Ctrl-C during `launcher grade` kills the grader's escaped (`setsid`) process before the command
exits, as the end of each grader attempt does; any round that is cancelled (Ctrl-C of any
command: `run`, `grade`, `judge`, a workflow) sweeps what escaped it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from functools import partial
from pathlib import Path

import anyio
from helpers import launcher_cli

from launcher.agents.base import AgentRequest
from launcher.agents.registry import get_adapter
from launcher.engine.agent_round import Limits, run_agent_round
from launcher.models.plan import AgentConfig, Task


def _marked(marker: str) -> list[int]:
    """Live processes whose command line carries `marker` (a name only this test uses)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _kill_marked(marker: str) -> None:
    for pid in _marked(marker):
        os.kill(pid, signal.SIGKILL)


def _escaping(marker: str, then: str) -> str:
    """A shell command that leaves a `setsid` process named `marker` running, then does `then`."""
    return f"setsid bash -c 'exec -a {marker} sleep 300' & {then}"


def test_ctrl_c_during_launcher_grade_kills_the_graders_escaped_process(repo: Path, tmp_path: Path) -> None:
    marker, hang = f"procs8grader{uuid.uuid4().hex[:8]}", tmp_path / "hang"
    grader = (f"if [ -e {hang} ]; then {_escaping(marker, 'sleep 300')}; fi; "
              f"exec {sys.executable} -m launcher.agents.scripted_grader \"$0\"")  # fmt: skip
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"grader": "judge"},
        "agents": {"judge": {"adapter": "command", "command": ["bash", "-c", grader, "{packet}"]}},
        "task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}],
    }))  # fmt: skip
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    hang.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    grade = subprocess.Popen(
        [sys.executable, "-m", "launcher", "grade", run_id, "a"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _marked(marker):
            assert time.monotonic() < deadline and grade.poll() is None, "the grader never started its daemon"
            time.sleep(0.1)
        time.sleep(0.5)
        os.killpg(grade.pid, signal.SIGINT)  # a terminal's Ctrl-C
        assert grade.wait(timeout=30) == 130
        assert _marked(marker) == [], "the grader's escaped process outlived `launcher grade`"
    finally:
        if grade.poll() is None:
            os.killpg(grade.pid, signal.SIGKILL)
            grade.wait()
        _kill_marked(marker)
    shown = json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)
    assert shown["status"] == "interrupted"


def test_a_cancelled_round_sweeps_the_processes_that_escaped_it(tmp_path: Path) -> None:
    # The engine's one round, as every command runs it (agent, grader, judge), stopped by a
    # cancellation (what Ctrl-C is inside the launcher) while its process and a daemon run.
    marker = f"procs8round{uuid.uuid4().hex[:8]}"
    worktree, artifacts = tmp_path / "wt", tmp_path / "artifacts"
    worktree.mkdir()
    artifacts.mkdir()
    config = AgentConfig.model_validate(
        {"adapter": "command", "command": ["bash", "-c", _escaping(marker, "sleep 300")]}
    )
    request = AgentRequest(
        run_id="r-20250101-000000-abcd", task=Task(id="t1", prompt="x"), agent_name="sh", config=config,
        worktree=worktree, artifacts=artifacts, base_sha="0" * 40, iteration=1,
        contract_path=artifacts / "contract.agent.json", feedback_path=None, port_base=20000,
    )  # fmt: skip

    async def stopped_round() -> None:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(partial(run_agent_round, get_adapter("command"), request, limits=Limits(60, None, 1.0)))
                for _ in range(200):
                    if _marked(marker):
                        break
                    await anyio.sleep(0.05)
                assert _marked(marker), "the agent never started its daemon"
                scope.cancel()

    try:
        anyio.run(stopped_round)
        assert _marked(marker) == [], "the round's escaped process outlived its cancellation"
    finally:
        _kill_marked(marker)
