"""An approved task whose branch (and worktree) the user deleted before it landed: the report
never shows that branch as kept nor the work as landable. Its approval is withdrawn, saying the
branch is gone and how to put it back; the landing blocks it and lands the rest; put back and
re-graded, it lands."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli

PLAN = """
[[task]]
id = "t1"
agent = "scripted"
prompt = "p"
script = [{ write = "one.txt", content = "1\\n" }]
[[task]]
id = "t2"
agent = "scripted"
prompt = "p"
script = [{ write = "two.txt", content = "2\\n" }]
"""


def _tasks(report: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {t["id"]: t for t in report["tasks"]}


def test_a_deleted_approved_branch_is_not_reported_kept_and_lands_once_put_back(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    t2 = _tasks(json.loads(done.stdout))["t2"]
    head = git(repo, "rev-parse", t2["branch"]).strip()
    git(repo, "worktree", "remove", "--force", t2["worktree"])
    git(repo, "branch", "-D", t2["branch"])

    status = launcher_cli(repo, "status", run_id, "--json", "--exit-status")
    report = json.loads(status.stdout)
    assert status.returncode == 1 and report["status"] == "failed"
    gone = _tasks(report)["t2"]
    assert gone["branch"] is None and gone["worktree"] is None  # not shown as kept
    assert f"its branch {t2['branch']} no longer exists" in gone["approval_withdrawn"]
    assert f"`git branch {t2['branch']} {head}`" in gone["approval_withdrawn"]
    shown = launcher_cli(repo, "status", run_id).stdout
    assert f"t2: {t2['branch']}" not in shown  # no "Kept for inspection" line for it

    landed = launcher_cli(repo, "land", run_id, "--json")
    tasks = _tasks(json.loads(landed.stdout))
    assert landed.returncode == 1
    assert (tasks["t1"]["merged"], tasks["t2"]["merged"], tasks["t2"]["state"]) == (True, False, "blocked")
    assert "branch kept" not in tasks["t2"]["message"]
    assert "two.txt" not in git(repo, "ls-tree", "--name-only", "main").split()

    git(repo, "branch", t2["branch"], head)  # the fix the message gives
    regraded = launcher_cli(repo, "grade", run_id, "t2", "--json")
    assert regraded.returncode == 0, regraded.stdout + regraded.stderr
    assert _tasks(json.loads(regraded.stdout))["t2"]["merged"] is True
    assert "two.txt" in git(repo, "ls-tree", "--name-only", "main").split()
