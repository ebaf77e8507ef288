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


def _approved_t2(repo: Path, tmp_path: Path) -> tuple[str, dict, str]:  # type: ignore[type-arg]
    """A `--no-merge` run of PLAN: (its id, task t2's report, t2's approved head)."""
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    t2 = _tasks(json.loads(done.stdout))["t2"]
    return json.loads(done.stdout)["run_id"], t2, git(repo, "rev-parse", t2["branch"]).strip()


def test_a_deleted_approved_branch_is_not_reported_kept_and_lands_once_put_back(repo: Path, tmp_path: Path) -> None:
    run_id, t2, head = _approved_t2(repo, tmp_path)
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


def test_clean_force_of_approved_unlanded_work_withdraws_its_approval_and_says_the_way_back(
        repo: Path, tmp_path: Path) -> None:
    run_id, t2, head = _approved_t2(repo, tmp_path)
    way_back = f"`git branch {t2['branch']} {head}`"

    cleaned = launcher_cli(repo, "clean", "--force")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"withdrawn approval of t2: its approved branch {t2['branch']} was deleted" in cleaned.stdout
    assert way_back in cleaned.stdout and f"`launcher grade {run_id} t2`" in cleaned.stdout

    status = launcher_cli(repo, "status", run_id, "--json", "--exit-status")
    report = json.loads(status.stdout)
    assert status.returncode == 1 and report["status"] == "failed"
    assert _tasks(report)["t2"]["branch"] is None  # not shown as kept
    assert way_back in _tasks(report)["t2"]["approval_withdrawn"]

    landed = launcher_cli(repo, "land", run_id, "--json")
    tasks = _tasks(json.loads(landed.stdout))
    assert landed.returncode == 1
    assert tasks["t2"]["state"] == "blocked" and way_back in tasks["t2"]["message"]

    git(repo, "branch", t2["branch"], head)  # the way back it gave
    regraded = launcher_cli(repo, "grade", run_id, "t2", "--json")
    tasks = _tasks(json.loads(regraded.stdout))
    assert tasks["t2"]["merged"] is True  # t1, deleted too and not put back, stays blocked
    assert (regraded.returncode, tasks["t1"]["state"]) == (1, "blocked")
    assert "two.txt" in git(repo, "ls-tree", "--name-only", "main").split()


def test_clean_of_approved_work_merged_by_hand_keeps_it_approved(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    run_id = json.loads(done.stdout)["run_id"]
    for task in json.loads(done.stdout)["tasks"]:
        git(repo, "merge", "-q", "--no-edit", task["branch"])

    cleaned = launcher_cli(repo, "clean", "--force")
    assert "withdrawn" not in cleaned.stdout
    status = launcher_cli(repo, "status", run_id, "--json", "--exit-status")
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "succeeded"
