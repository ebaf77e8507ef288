"""A phase whose run parked its work on an integration branch (the main work tree had local
changes): once the operator merged that branch, the run has landed — `cancel` records the phase
succeeded and names what landed, `resume` records the run landed — and no report points at an
integration branch that was deleted. Real repositories, the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import git
from tests.helpers import launcher_cli
from tests.test_workflows import _create, _scripts, wf_repo  # noqa: F401  (the fixture)


def _park(repo: Path) -> tuple[str, str, str]:
    """The first phase parked: (workflow id, its run id, the integration branch)."""
    wid = _create(repo, _scripts(repo))
    (repo / "README.md").write_text("# sample\nlocal edit\n")  # the main work tree has local changes
    data = json.loads(launcher_cli(repo, "workflow", "next", wid, "--json", "--quiet").stdout)
    assert data["status"] == "paused", data
    branch = data["phases"][0]["tasks"][0]["state"].split(" on ", 1)[-1]
    return wid, data["phases"][0]["run_id"], branch


def _run_status(repo: Path, run_id: str) -> tuple[dict[str, Any], str]:
    shown = launcher_cli(repo, "status", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout), launcher_cli(repo, "status", run_id).stdout


def test_cancel_after_the_operator_merged_a_parked_phase_records_it_landed(wf_repo: Path) -> None:  # noqa: F811
    wid, run_id, branch = _park(wf_repo)
    git(wf_repo, "stash")
    git(wf_repo, "merge", "--ff-only", branch)  # what the pause said to run

    done = launcher_cli(wf_repo, "workflow", "cancel", wid, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    plan = data["phases"][0]
    assert plan["status"] == "succeeded" and [t["state"] for t in plan["tasks"]] == ["merged"], plan
    assert "nothing of it lands" not in data["message"] and "had already landed on main" in data["message"], data
    assert "plan-architect" in data["message"]
    report, text = _run_status(wf_repo, run_id)
    assert report["status"] == "succeeded" and report["integration_branch"] is None, report
    assert [t["state"] for t in report["tasks"]] == ["merged"]
    assert "integration branch" not in text and branch not in text, text
    assert git(wf_repo, "show", "main:docs/plan.md").startswith("# Plan")


def test_cancel_of_a_parked_phase_keeps_its_approved_work_and_names_it(wf_repo: Path) -> None:  # noqa: F811
    wid, run_id, branch = _park(wf_repo)
    work = git(wf_repo, "rev-parse", branch).strip()
    done = launcher_cli(wf_repo, "workflow", "cancel", wid, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "cancelled" and data["phases"][0]["status"] == "failed", data
    # no agent commit is deleted without --force: the parked, approved work stays on its branch
    assert git(wf_repo, "rev-parse", branch).strip() == work
    assert f"kept branch {branch}" in data["message"] and "approved work of plan-architect" in data["message"]
    assert f"`launcher clean {run_id} --force`" in data["message"], data["message"]
    assert git(wf_repo, "show", f"{branch}:docs/plan.md").startswith("# Plan")


def test_cancel_force_of_a_parked_phase_never_merged_points_at_no_deleted_branch(wf_repo: Path) -> None:  # noqa: F811
    wid, run_id, branch = _park(wf_repo)
    done = launcher_cli(wf_repo, "workflow", "cancel", wid, "--force", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["phases"][0]["status"] == "failed" and "nothing of it lands" in data["message"], data
    assert git(wf_repo, "branch", "--list", branch) == ""  # cancel removed it
    report, text = _run_status(wf_repo, run_id)
    assert report["status"] == "failed" and report["integration_branch"] is None, report
    assert "integration branch" not in text and branch not in text, text


def test_resume_after_the_operator_merged_a_parked_phase_records_its_run_landed(wf_repo: Path) -> None:  # noqa: F811
    wid, run_id, branch = _park(wf_repo)
    git(wf_repo, "stash")
    git(wf_repo, "merge", "--ff-only", branch)
    resumed = launcher_cli(wf_repo, "workflow", "resume", wid, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["phases"][0]["status"] == "succeeded"
    report, text = _run_status(wf_repo, run_id)
    assert report["status"] == "succeeded" and report["landed_on"] == "main", report
    assert [t["state"] for t in report["tasks"]] == ["merged"], report["tasks"]
    assert "integration branch" not in text, text
