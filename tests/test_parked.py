"""Parked work (the target could not move: the main work tree has local changes) is approved,
never reported merged, and one later landing brings all of it: every pass of a landing folds all
approved work, so the integration branch the message names holds everything."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli, run_plan, task

from launcher.models.states import RunStatus

CHECK = "! grep -rq BAD files/"


def _tasks() -> list[dict[str, object]]:
    good = [{"id": f"good{n}", "script": [{"write": f"files/good{n}.txt", "content": "fine\n"}]}
            for n in (1, 2)]
    culprit = {"id": "culprit", "script": [
        {"write": "files/culprit.txt", "content": "BAD\n", "rounds": [1]},
        {"write": "files/culprit.txt", "content": "fixed\n", "rounds": [2]}]}
    return [*good, culprit]


def test_a_parked_landing_with_a_revised_culprit_names_a_branch_holding_all_of_it(repo: Path) -> None:
    (repo / "README.md").write_text("# local edit in progress\n")
    base = git(repo, "rev-parse", "main").strip()
    report = run_plan(repo, _tasks(), integration_check=CHECK)
    assert report.status == RunStatus.PARKED, report.message
    assert git(repo, "rev-parse", "main").strip() == base
    assert all(t.state == "approved" and not t.merged for t in report.tasks), [
        (t.id, t.state, t.merged) for t in report.tasks]
    branch = report.integration_branch
    assert branch and branch in report.message
    held = set(git(repo, "ls-tree", "-r", "--name-only", branch).split())
    assert {"files/good1.txt", "files/good2.txt", "files/culprit.txt"} <= held
    assert git(repo, "show", f"{branch}:files/culprit.txt") == "fixed\n"

    # The user puts the edit away and lands: everything reaches main, now really merged.
    (repo / "README.md").write_text("# sample\n")
    landed = launcher_cli(repo, "land", report.run_id, "--json")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    final = json.loads(landed.stdout)
    assert final["status"] == "succeeded"
    assert all(t["state"] == "merged" and t["merged"] for t in final["tasks"])
    assert sorted(p.name for p in (repo / "files").iterdir()) == ["culprit.txt", "good1.txt", "good2.txt"]
    assert git(repo, "status", "--porcelain") == ""


def test_a_failed_task_beside_parked_work_fails_the_run_and_still_names_the_branch(repo: Path) -> None:
    (repo / "README.md").write_text("# local edit in progress\n")
    report = run_plan(repo, [
        {"id": "good", "script": [{"write": "good.txt", "content": "fine\n"}]},
        {"id": "broken", "script": [{"write": "b.txt", "content": "b\n"}], "checks": ["false"]},
    ])
    assert report.status == RunStatus.FAILED  # a task failed: exit 1 wins over parked
    assert task(report, "good").state == "approved" and not task(report, "good").merged
    assert report.integration_branch and "good.txt" in git(repo, "ls-tree", "--name-only",
                                                             report.integration_branch)
    assert report.integration_branch in report.message


def test_once_parked_work_has_landed_clean_removes_the_stale_integration_branch(repo: Path) -> None:
    (repo / "README.md").write_text("# local edit in progress\n")
    report = run_plan(repo, [{"id": "good", "script": [{"write": "good.txt", "content": "fine\n"}]}])
    assert report.status == RunStatus.PARKED and report.integration_branch
    (repo / "README.md").write_text("# sample\n")
    assert launcher_cli(repo, "land", report.run_id).returncode == 0
    assert (repo / "good.txt").read_text() == "fine\n"
    cleaned = launcher_cli(repo, "clean", report.run_id)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert report.integration_branch not in git(repo, "branch", "--list", "launcher/*")


def test_a_revision_round_run_by_launcher_land_is_guarded_like_a_runs(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "good", "script": [{"write": "files/good.txt", "content": "fine\n"}]},
        {"id": "sneak", "script": [
            {"write": "files/sneak.txt", "content": "BAD\n", "rounds": [1]},
            # Its revision round, run by `launcher land`, moves main to its own commit.
            {"write": "files/sneak.txt", "content": "fixed\n", "rounds": [2]},
            {"commit": "sneak fixed", "rounds": [2]},
            {"run": ["git", "update-ref", "refs/heads/main", "HEAD"], "rounds": [2]}]},
    ], merge=False, integration_check=CHECK)
    base = git(repo, "rev-parse", "main").strip()
    landed = launcher_cli(repo, "land", report.run_id, "--json")
    final = {t["id"]: (t["state"], t["message"]) for t in json.loads(landed.stdout)["tasks"]}
    assert final["sneak"][0] == "failed" and "moved refs" in final["sneak"][1], final
    assert final["good"][0] == "merged"
    assert "sneak fixed" not in git(repo, "log", "--format=%s", "main")
    assert git(repo, "merge-base", "--is-ancestor", base, "main") == ""


def test_status_says_when_parked_work_was_merged_by_hand_and_land_records_it(repo: Path) -> None:
    (repo / "README.md").write_text("# local edit in progress\n")
    report = run_plan(repo, [{"id": "good", "script": [{"write": "good.txt", "content": "fine\n"}]}])
    assert report.status == RunStatus.PARKED and report.integration_branch
    (repo / "README.md").write_text("# sample\n")
    git(repo, "merge", "--ff-only", report.integration_branch)  # as the message says
    shown = json.loads(launcher_cli(repo, "status", report.run_id, "--json").stdout)
    assert "is on main now" in shown["message"]
    landed = json.loads(launcher_cli(repo, "land", report.run_id, "--json").stdout)
    assert landed["status"] == "succeeded" and landed["tasks"][0]["state"] == "merged"


def test_an_epic_lands_whole_after_its_failed_task_is_retried(repo: Path, tmp_path: Path) -> None:
    ready = tmp_path / "ready"  # e2's agent fails until this exists
    report = run_plan(repo, [
        {"id": "e1", "epic": "ep", "script": [{"write": "e1.txt", "content": "1\n"}]},
        {"id": "e2", "epic": "ep", "script": [{"run": ["test", "-f", str(ready)]},
                                               {"write": "e2.txt", "content": "2\n"}]},
        {"id": "e3", "epic": "ep", "depends_on": ["e1"], "script": [{"write": "e3.txt", "content": "3\n"}]},
        {"id": "solo", "script": [{"write": "solo.txt", "content": "s\n"}]},
    ])
    states = {t.id: t.state for t in report.tasks}
    assert states == {"e1": "skipped", "e2": "failed", "e3": "skipped", "solo": "merged"}, states
    ready.write_text("")
    retried = launcher_cli(repo, "resume", report.run_id, "--retry-failed", "--json")
    final = {t["id"]: t["state"] for t in json.loads(retried.stdout)["tasks"]}
    assert final == {"e1": "merged", "e2": "merged", "e3": "merged", "solo": "merged"}, retried.stdout[-3000:]
    assert retried.returncode == 0
    assert all((repo / f"{name}.txt").exists() for name in ("e1", "e2", "e3", "solo"))


def test_clean_defaults_to_the_latest_run_and_status_stops_showing_what_it_removed(repo: Path) -> None:
    report = run_plan(repo, [{"id": "bad", "script": [{"write": "b.txt", "content": "b\n"}], "checks": ["false"]}])
    bad = task(report, "bad")
    assert bad.state == "failed" and bad.branch and bad.worktree
    kept = launcher_cli(repo, "clean")  # no RUN: the latest, as status and resume do
    assert kept.returncode == 0 and f"kept branch {bad.branch}" in kept.stdout, kept.stdout  # its agent's commit
    assert not Path(bad.worktree).exists()
    shown = json.loads(launcher_cli(repo, "status", report.run_id, "--json").stdout)
    assert shown["tasks"][0]["branch"] == bad.branch and shown["tasks"][0]["worktree"] is None
    cleaned = launcher_cli(repo, "clean", "--force")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert git(repo, "branch", "--list", bad.branch) == ""
    shown = json.loads(launcher_cli(repo, "status", report.run_id, "--json").stdout)
    assert shown["tasks"][0]["branch"] is None and shown["tasks"][0]["worktree"] is None
    assert "Kept for inspection" not in launcher_cli(repo, "status", report.run_id).stdout


def test_a_later_landing_that_refolded_parked_work_names_no_stale_branch(repo: Path) -> None:
    """Parked on `_integration`, then the user commits a change that conflicts with one task and
    lands again: the queue refolds onto the new main (one task lands, one conflicts); the
    earlier fold is not "approved work" to merge: it holds the refused task."""
    (repo / "app.py").write_text((repo / "app.py").read_text() + "\n\ndef mine():\n    return 0\n")
    report = run_plan(repo, [
        {"id": "a", "script": [{"append": "app.py", "content": "\n\ndef g():\n    return 2\n"}]},
        {"id": "c", "script": [{"write": "notes.txt", "content": "notes\n"}]},
    ])
    assert report.status == RunStatus.PARKED, report.message
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "user: add mine")

    landed = launcher_cli(repo, "land", report.run_id, "--json")

    final = json.loads(landed.stdout)
    assert {t["id"]: t["state"] for t in final["tasks"]} == {"a": "conflicted", "c": "merged"}
    assert "approved work is on" not in final["message"] and "git merge" not in final["message"]
    assert (repo / "notes.txt").exists()
