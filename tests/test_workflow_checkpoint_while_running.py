"""README, Workflows: "A `pause` or `checkpoint` given while a phase runs is kept". A checkpoint
signal given while the checkpointed phase runs releases it: when the phase succeeds the
workflow is ready for the next phase instead of waiting for another signal, and the journal
records the signal against the running phase. A signal given during an attempt that fails is
not carried over to the retry (its new work is not what was approved). Real repositories, the
real CLI, the runner as a separate `launcher workflow next|resume` process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import launcher_cli
from tests.test_workflow_review import _env, _hold, _kill_runner, _wait_file
from tests.test_workflows import _create, _gate, _scripts, wf_repo  # noqa: F401  (the fixture)


def _status(repo: Path, wid: str) -> dict[str, Any]:
    shown = launcher_cli(repo, "workflow", "status", wid, "--json")
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


def _run_with_checkpoint_meanwhile(repo: Path, wid: str, started: Path, release: Path, action: list[str]) -> str:
    """Run the phase (`workflow next|resume`) and give a checkpoint once it runs; its message."""
    runner = subprocess.Popen([sys.executable, "-m", "launcher", "workflow", *action, wid, "--quiet"], cwd=repo,
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    try:
        _wait_file(started)
        given = launcher_cli(repo, "workflow", "checkpoint", wid, "--signal", "plan-approved", "--json")
        assert given.returncode == 0, given.stderr
        release.write_text("")
        runner.wait(timeout=120)
        message: str = json.loads(given.stdout)["message"]
        return message
    finally:
        release.write_text("")
        _kill_runner(runner.pid)


def test_a_checkpoint_given_while_its_phase_runs_releases_it_when_it_succeeds(
    wf_repo: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    wid = _create(wf_repo, _scripts(wf_repo, **{"plan-architect": [
        *_hold(started, release), *_scripts(wf_repo)["plan-architect"]]}))  # fmt: skip

    said = _run_with_checkpoint_meanwhile(wf_repo, wid, started, release, ["next"])

    assert "recorded for phase plan, which is running" in said
    after = _status(wf_repo, wid)
    assert after["status"] == "ready", after["message"]
    assert "'plan-approved', given while it ran, releases the next phase" in after["message"]
    assert [(c["phase"], c["signal"]) for c in after["checkpoints"]] == [("plan", "plan-approved")]


def test_a_checkpoint_given_during_an_attempt_that_fails_does_not_release_the_retry(
    wf_repo: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    started, release, fixed = tmp_path / "started", tmp_path / "release", tmp_path / "fixed"
    wid = _create(wf_repo, _scripts(wf_repo, **{"plan-architect": [
        *_hold(started, release), *_gate(fixed), *_scripts(wf_repo)["plan-architect"]]}))  # fmt: skip

    _run_with_checkpoint_meanwhile(wf_repo, wid, started, release, ["next"])
    assert _status(wf_repo, wid)["status"] == "paused"  # the plan phase failed
    fixed.write_text("")
    retried = launcher_cli(wf_repo, "workflow", "resume", wid, "--retry-failed", "--quiet")

    assert retried.returncode == 0, retried.stderr
    after = _status(wf_repo, wid)
    assert after["status"] == "waiting_checkpoint", after["message"]
