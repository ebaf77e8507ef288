"""A workflow phase parked on an integration branch is recorded landed once the operator merged
that branch, and only when the merge is in the main work tree too: an operator who moved the
target ref alone (`git update-ref`) while it is checked out leaves the main work tree behind it
(its staged changes undo the parked work), and the phase is not recorded as landed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import git
from tests.helpers import launcher_cli
from tests.test_workflow_parked_end import _park, _run_status
from tests.test_workflows import wf_repo  # noqa: F401  (the fixture)


def test_resume_after_the_target_ref_alone_was_moved_does_not_record_the_parked_phase_landed(
    wf_repo: Path,  # noqa: F811
) -> None:
    wid, run_id, branch = _park(wf_repo)
    git(wf_repo, "update-ref", "refs/heads/main", branch)  # the ref only: the work tree stays behind
    assert not (wf_repo / "docs" / "plan.md").exists()

    resumed = launcher_cli(wf_repo, "workflow", "resume", wid, "--json")

    report, _ = _run_status(wf_repo, run_id)
    assert [t["state"] for t in report["tasks"]] != ["merged"], (resumed.stdout, resumed.stderr)
    assert resumed.returncode == 2, resumed.stdout + resumed.stderr
    assert "main work tree" in resumed.stderr and "docs/plan.md" in resumed.stderr, resumed.stderr

    # The operator brings those files to main, as the refusal says: the phase is recorded landed.
    behind = git(wf_repo, "diff", "--cached", "--name-only", "HEAD").split()
    git(wf_repo, "checkout", "main", "--", *behind)
    again = launcher_cli(wf_repo, "workflow", "resume", wid, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["phases"][0]["status"] == "succeeded"
    report, _ = _run_status(wf_repo, run_id)
    assert [t["state"] for t in report["tasks"]] == ["merged"], report["tasks"]
    assert (wf_repo / "docs" / "plan.md").read_text().startswith("# Plan")
