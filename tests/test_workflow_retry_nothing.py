"""A phase whose agents all finished without a change pauses and offers `resume --retry-failed`;
that retry runs the phase's agents again (a new run: the old one has nothing failed to retry),
so once the cause is fixed the phase succeeds. Real repositories, the real CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import git
from tests.helpers import launcher_cli
from tests.test_workflows import _create, _scripts, wf_repo  # noqa: F401  (the fixture)


def test_retrying_a_phase_that_produced_nothing_runs_its_agents_again(wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    gate = tmp_path / "service-up"
    writes_once_up = (f"import os\nif os.path.exists({str(gate)!r}):\n"
                      "    os.makedirs('docs', exist_ok=True)\n    open('docs/plan.md', 'w').write('# Plan\\n')\n")
    wid = _create(wf_repo, _scripts(wf_repo, **{"plan-architect": [{"run": [sys.executable, "-c", writes_once_up]}]}))
    first = json.loads(launcher_cli(wf_repo, "workflow", "next", wid, "--json", "--quiet").stdout)
    assert first["status"] == "paused" and "produced nothing" in first["message"], first
    assert f"launcher workflow resume {wid} --retry-failed" in first["offers"]
    first_run = first["phases"][0]["run_id"]

    gate.touch()  # the cause is fixed
    retried = launcher_cli(wf_repo, "workflow", "resume", wid, "--retry-failed", "--json", "--quiet")
    assert retried.returncode == 0, retried.stderr
    after = json.loads(retried.stdout)
    plan = after["phases"][0]
    assert plan["status"] == "succeeded" and after["status"] == "waiting_checkpoint", after
    assert plan["run_id"] != first_run and [t["state"] for t in plan["tasks"]] == ["merged"], plan
    assert git(wf_repo, "show", "main:docs/plan.md").startswith("# Plan")
