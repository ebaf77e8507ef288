"""MCP `resume` of a workflow whose phase's run another launcher drives (the operator's own
`launcher resume RUN`) is refused as the CLI refuses it (run_busy, a tool error), and changes
nothing: no runner is spawned, the workflow's runner and message stay. Real repositories, the
real CLI and `launcher mcp` over stdio."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.helpers import launcher_cli
from tests.test_workflow_review import _call, _server, _state
from tests.test_workflows import _scripts, _task_state, _through_build, wf_repo  # noqa: F401  (the fixture)

pytest.importorskip("mcp")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _launcher_of(repo: Path, run_id: str) -> int | None:
    db = sqlite3.connect(repo / ".launcher" / "launcher.db")
    try:
        row = db.execute("SELECT launcher_pid FROM runs WHERE id=?", (run_id,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def _wait(check: Any, limit: float = 30) -> None:
    deadline = time.time() + limit
    while not check() and time.time() < deadline:
        time.sleep(0.1)
    assert check()


def test_mcp_resume_is_refused_while_another_launcher_drives_the_phases_run(
    wf_repo: Path, tmp_path: Path  # noqa: F811
) -> None:
    release = tmp_path / "release"
    wait = f"import os, time; [time.sleep(0.1) for _ in range(600) if not os.path.exists({str(release)!r})]"
    wid = _through_build(wf_repo, _scripts(wf_repo, **{
        "build-frontend": [{"run": [sys.executable, "-c", wait]}, *_scripts(wf_repo)["build-frontend"]]}))
    runner = subprocess.Popen([sys.executable, "-m", "launcher", "workflow", "next", wid, "--quiet"], cwd=wf_repo,
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _wait(lambda: _task_state(wf_repo, "build-backend") == "approved")
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    run_id = _state(wf_repo, wid)["phases"][1]["run_id"]
    driver = subprocess.Popen([sys.executable, "-m", "launcher", "resume", run_id, "--quiet"], cwd=wf_repo,
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait(lambda: _launcher_of(wf_repo, run_id) == driver.pid)
        cli = launcher_cli(wf_repo, "workflow", "resume", wid)
        assert cli.returncode == 2 and "is still running" in cli.stderr, cli.stderr
        before = _state(wf_repo, wid)

        async def scenario() -> Any:
            async with _server(wf_repo) as session:
                return await _call(session, {"action": "resume", "workflowId": wid})

        got = anyio.run(scenario)
        assert got.get("ok") is False and got["error_key"] == "run_busy", got
        assert str(driver.pid) in got["observations"] and f"workflow resume {wid}" in got["observations"]
        after = _state(wf_repo, wid)
        assert after["runner_pid"] == before["runner_pid"] and after["status"] == before["status"], after
        assert "the phase runs in process" not in after["message"], after["message"]  # no runner was spawned
    finally:
        release.write_text("")
        driver.wait(timeout=60)
    assert json.loads(launcher_cli(wf_repo, "status", run_id, "--json").stdout)["status"] == "succeeded"
