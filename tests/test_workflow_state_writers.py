"""Every writer of a workflow's state reads, changes and writes it under one lock: an operator's
`pause` or `checkpoint` recorded while a phase runs is never overwritten by the runner saving its
own (older) copy at the end of the phase. Real repositories, the real CLI, a detached runner."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.app.workflow import engine, phase_run
from launcher.app.workflow.session import WorkflowSession
from launcher.errors import UsageProblem
from launcher.models.workflow import WorkflowState, WorkflowStatus
from tests.helpers import launcher_cli
from tests.test_workflows import _create, _scripts, wf_repo  # noqa: F401  (the fixture)


def _gated(started: Path, gate: Path) -> dict[str, Any]:
    """The first phase's agent says it started, then waits for `gate` before writing its file."""
    wait = (f"import os, time\nopen({str(started)!r}, 'w').close()\n"
            f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n")
    return {"run": [sys.executable, "-c", wait]}


def _wait(predicate: Any, limit: float = 90) -> None:
    deadline = time.time() + limit
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def _status(repo: Path, wid: str) -> dict[str, Any]:
    return json.loads(launcher_cli(repo, "workflow", "status", wid, "--json").stdout)


def test_a_pause_and_a_checkpoint_recorded_while_a_phase_runs_survive_the_end_of_the_phase(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    started, gate = tmp_path / "started", tmp_path / "gate"
    scripts = _scripts(wf_repo)
    scripts["plan-architect"] = [_gated(started, gate), *scripts["plan-architect"]]
    (tmp_path / "scripts.json").write_text(json.dumps(scripts))
    out = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", "what=mul",
                       "--scripts", str(tmp_path / "scripts.json"), "--detach", "--json")
    wid = json.loads(out.stdout)["id"]
    _wait(started.exists)

    paused = json.loads(launcher_cli(wf_repo, "workflow", "pause", wid, "--json").stdout)
    assert paused["pause_requested"] is True, paused
    launcher_cli(wf_repo, "workflow", "checkpoint", wid, "--signal", "sig-1")
    gate.touch()
    _wait(lambda: _status(wf_repo, wid)["status"] != "running")

    after = _status(wf_repo, wid)
    assert after["phases"][0]["status"] == "succeeded", after
    assert after["status"] == "paused" and after["pause_requested"] is False, after
    assert [c["signal"] for c in after["checkpoints"]] == ["sig-1"], after
    assert "paused by the operator" in after["message"], after
    mirror = json.loads((wf_repo / ".launcher" / "workflows" / wid / "state.json").read_text())
    assert mirror["status"] == "paused" and mirror["checkpoints"], mirror


def test_a_runner_that_decided_to_run_a_phase_does_not_start_it_once_the_operator_paused_the_workflow(
        wf_repo: Path) -> None:  # noqa: F811
    """The runner read `ready`, then an operator's `pause` came in before it recorded itself: the
    phase does not start and the pause stays."""
    wid = _create(wf_repo, _scripts(wf_repo))

    async def scenario() -> WorkflowState:
        session = await WorkflowSession.open(wf_repo)
        stale = session.load(wid)
        await engine.pause(wf_repo, wid)
        with pytest.raises(UsageProblem) as refused:
            await phase_run.begin_step(session, stale, phase_run.next_step(session, stale), "workflow next")
        assert "paused meanwhile" in refused.value.message
        return session.load(wid)

    state = anyio.run(scenario)
    assert state.status is WorkflowStatus.PAUSED and state.runner_pid is None
    assert state.resume_to is WorkflowStatus.READY


def test_a_state_change_that_raises_writes_nothing(wf_repo: Path) -> None:  # noqa: F811
    wid = _create(wf_repo, _scripts(wf_repo))

    async def scenario() -> WorkflowState:
        session = await WorkflowSession.open(wf_repo)

        def half(state: WorkflowState) -> None:
            state.message = "half-written"
            raise UsageProblem("refused", fix="nothing")

        with pytest.raises(UsageProblem):
            session.update(wid, half)
        return session.load(wid)

    assert anyio.run(scenario).message != "half-written"
