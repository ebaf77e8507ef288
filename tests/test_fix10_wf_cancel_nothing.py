"""`launcher workflow cancel` of a workflow paused because its phase produced nothing (every
agent finished without a change): nothing of that phase landed, so the cancel never records it
succeeded, never says it "had already landed", and keeps its error record. Whether a phase
landed is decided by its own tasks, not by its run's status (a run whose tasks were all skipped
succeeded: it had nothing to land). Real repositories, the real CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import git
from tests.helpers import launcher_cli
from tests.test_workflows import _create, _scripts, wf_repo  # noqa: F401  (the fixture)


def test_cancelling_a_phase_that_produced_nothing_keeps_it_failed_and_says_nothing_landed(wf_repo: Path) -> None:  # noqa: F811
    start = git(wf_repo, "rev-parse", "main")
    wid = _create(wf_repo, _scripts(wf_repo, **{"plan-architect": [{"run": [sys.executable, "-c", "pass"]}]}))
    paused = json.loads(launcher_cli(wf_repo, "workflow", "next", wid, "--json", "--quiet").stdout)
    assert paused["status"] == "paused" and "produced nothing" in paused["message"], paused
    error_file = wf_repo / ".launcher" / "workflows" / wid / "plan" / "error.json"
    assert error_file.exists()

    done = launcher_cli(wf_repo, "workflow", "cancel", wid)
    assert done.returncode == 0, done.stderr
    assert "had already landed" not in done.stdout, done.stdout
    assert "phase plan's run" in done.stdout and "produced nothing" in done.stdout, done.stdout
    assert "nothing of it landed on main" in done.stdout, done.stdout

    after = json.loads(launcher_cli(wf_repo, "workflow", "status", wid, "--json").stdout)
    plan = after["phases"][0]
    assert after["status"] == "cancelled", after
    assert plan["status"] == "failed" and "produced nothing" in (plan["error"] or ""), plan
    assert [(t["state"], t["merged"]) for t in plan["tasks"]] == [("skipped", False)], plan
    assert "plan/error.json" in plan["artifacts"] and error_file.exists()
    assert git(wf_repo, "rev-parse", "main") == start  # nothing landed, and the cancel says so
