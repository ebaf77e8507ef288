"""A workflow phase whose agents all finished without a change "produced nothing" (it pauses and
offers retry, skip or cancel) even when another run lands on the target while it runs: a phase
changed something only if its own tasks landed something, never because the branch moved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import git
from tests.helpers import launcher_cli
from tests.test_workflows import _create, _scripts, wf_repo  # noqa: F401  (the fixture)


def test_a_phase_that_changed_nothing_while_another_run_landed_is_not_credited_with_that_run(
    wf_repo: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    started, go = tmp_path / "started", tmp_path / "go"
    waits = (
        f"import os, pathlib, time\npathlib.Path({str(started)!r}).touch()\n"
        f"deadline = time.time() + 120\n"
        f"while not os.path.exists({str(go)!r}) and time.time() < deadline:\n    time.sleep(0.1)\n"
    )  # then finishes without changing anything
    wid = _create(wf_repo, _scripts(wf_repo, **{"plan-architect": [{"run": [sys.executable, "-c", waits]}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    phase = subprocess.Popen(
        [sys.executable, "-m", "launcher", "workflow", "next", wid, "--json", "--quiet"],
        cwd=wf_repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and phase.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), phase.communicate()
        other = tmp_path / "other.json"
        other.write_text(
            json.dumps({"task": [{"id": "x1", "agent": "scripted", "script": [{"write": "x1.txt", "content": "x\n"}]}]})
        )
        landed = launcher_cli(wf_repo, "run", str(other), "--json")  # an ordinary run, meanwhile
        assert landed.returncode == 0, landed.stdout + landed.stderr
        assert git(wf_repo, "show", "main:x1.txt") == "x\n"
    finally:
        go.touch()
    out, err = phase.communicate(timeout=300)
    assert out, err

    state = json.loads(out)
    one = state["phases"][0]
    assert [t["state"] for t in one["tasks"]] == ["skipped"], one
    assert one["status"] == "failed" and "produced nothing" in one["error"], one
    assert state["status"] == "paused" and "produced nothing" in state["message"], state
    assert f"launcher workflow next {wid} --skip" in state["offers"], state
