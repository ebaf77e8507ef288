"""`launcher workflow cancel` of a phase whose runner died in the middle of landing (the target
ref already holds the phase's merge, the main work tree was not updated): cancel finishes that
landing, as `resume` would, and reports the phase landed, never "nothing of it lands" while the
target holds it; the workflow and `launcher status` agree. Real repositories, the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import git
from tests.helpers import launcher_cli
from tests.test_killed_land_status import _git_killing_the_launcher_at_the_tree_update
from tests.test_workflows import _create, _scripts, wf_repo  # noqa: F401  (the fixture)


def test_cancel_after_the_runner_died_mid_landing_finishes_it_and_says_the_phase_landed(
    wf_repo: Path, tmp_path: Path  # noqa: F811
) -> None:
    wid = _create(wf_repo, _scripts(wf_repo))
    killed = launcher_cli(wf_repo, "workflow", "next", wid, "--quiet",
                          env=_git_killing_the_launcher_at_the_tree_update(tmp_path))
    assert killed.returncode == -9, killed.stderr
    assert git(wf_repo, "show", "main:docs/plan.md").startswith("# Plan")  # the target holds the phase
    assert git(wf_repo, "status", "--porcelain", "--untracked-files=no") != ""  # the tree is behind it

    done = launcher_cli(wf_repo, "workflow", "cancel", wid, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    phase = data["phases"][0]
    assert data["status"] == "cancelled"
    assert phase["status"] == "succeeded", phase
    assert [(t["state"], t["merged"]) for t in phase["tasks"]] == [("merged", True)], phase["tasks"]
    assert "nothing of it lands" not in data["message"], data["message"]
    assert "had already landed on main" in data["message"] and "plan-architect" in data["message"]
    # the main work tree follows its target: no staged change undoes the landed phase
    assert git(wf_repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert (wf_repo / "docs" / "plan.md").read_text().startswith("# Plan")
    # `launcher status` of the phase's run says what the workflow says
    shown = launcher_cli(wf_repo, "status", phase["run_id"], "--json")
    report = json.loads(shown.stdout)
    assert report["status"] == "succeeded", report
    assert [t["state"] for t in report["tasks"]] == ["merged"], report["tasks"]
