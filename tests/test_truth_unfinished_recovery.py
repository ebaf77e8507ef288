"""A landing killed between moving the target and updating the main work tree, which `resume`
cannot finish because the user changed the main work tree since (staged a file, or committed on
top of the landed tip), leaves its tasks `approved` with `merged: unfinished`
(`landing_unfinished` in `--json`), never `merged` (README, Safety): "merged" means on the target
and in the work tree. Once the work tree is settled, `resume` records them as landed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli
from test_killed_land_status import _git_killing_the_launcher_at_the_tree_update


def _killed_at_the_tree_update(repo: Path, tmp_path: Path) -> str:
    """`run` of one task writing a.txt, killed (SIGKILL) right before `read-tree -m -u`: main has
    moved, the main work tree has not. Returns the run's id."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "a", "script": [{"write": "a.txt", "content": "A\n"}]}]}))
    killed = launcher_cli(repo, "run", str(plan), "--quiet", env=_git_killing_the_launcher_at_the_tree_update(tmp_path))
    assert killed.returncode == -9, killed.stderr
    assert git(repo, "show", "main:a.txt") == "A\n" and not (repo / "a.txt").exists()
    runs = json.loads(launcher_cli(repo, "runs", "--json").stdout)
    return str(runs[0]["run_id"])


def _not_merged_yet(report: dict[str, Any], run_id: str) -> None:
    (task,) = report["tasks"]
    assert report["status"] == "interrupted", report["status"]
    assert task["state"] == "approved" and task["merged"] is False, task
    assert task["landing_unfinished"] and "not recorded as landed" in task["landing_unfinished"], task
    assert f"`launcher resume {run_id}`" in task["landing_unfinished"]


def test_resume_that_cannot_update_the_work_tree_leaves_the_task_unfinished_not_merged(
    repo: Path, tmp_path: Path
) -> None:
    run_id = _killed_at_the_tree_update(repo, tmp_path)
    (repo / "mine.txt").write_text("mine\n")
    git(repo, "add", "mine.txt")  # the user stages a file of their own after the crash

    resumed = launcher_cli(repo, "resume", run_id, "--json")

    assert resumed.returncode == 130, resumed.stdout + resumed.stderr
    _not_merged_yet(json.loads(resumed.stdout), run_id)
    assert not (repo / "a.txt").exists()
    shown = launcher_cli(repo, "status", run_id)
    row = next(line for line in shown.stdout.splitlines() if line.startswith("│ a "))
    assert "approved" in row and "unfinished" in row, shown.stdout  # the merged column: unfinished
    assert "Landed on main" not in shown.stdout, shown.stdout
    _not_merged_yet(json.loads(launcher_cli(repo, "status", run_id, "--json").stdout), run_id)
    plain = launcher_cli(repo, "resume", run_id)
    assert "Landed on main" not in plain.stdout + plain.stderr, plain.stdout + plain.stderr

    # The user takes their file out of the index: the landing is finished and recorded.
    git(repo, "rm", "-q", "--cached", "mine.txt")
    again = launcher_cli(repo, "resume", run_id, "--json")

    report = json.loads(again.stdout)
    assert again.returncode == 0 and report["status"] == "succeeded", again.stdout + again.stderr
    assert report["tasks"][0]["state"] == "merged" and report["tasks"][0]["merged"] is True
    assert (repo / "a.txt").read_text() == "A\n" and (repo / "mine.txt").read_text() == "mine\n"


def test_resume_after_the_user_committed_on_the_landed_tip_does_not_record_the_task_merged(
    repo: Path, tmp_path: Path
) -> None:
    run_id = _killed_at_the_tree_update(repo, tmp_path)
    (repo / "mine.txt").write_text("mine\n")
    git(repo, "add", "mine.txt")
    git(repo, "-c", "user.name=u", "-c", "user.email=u@u", "commit", "-q", "-m", "mine")  # with the stale index
    assert "a.txt" not in git(repo, "ls-tree", "--name-only", "main")  # this commit reverted the landing

    resumed = launcher_cli(repo, "resume", run_id, "--json")

    assert resumed.returncode == 130, resumed.stdout + resumed.stderr
    _not_merged_yet(json.loads(resumed.stdout), run_id)
    assert "do not commit them" in json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)["message"]
