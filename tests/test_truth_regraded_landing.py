"""A shard's task that a land put on the target, then re-graded at a newer head in the shard's
clone (`grade` approves it and writes the export again, README "One plan across a CI matrix"),
is never reported `merged` at that newer head unless the newer head is on the target: "merged"
means on the target. A head built on the landed one lands what it adds; a rewritten one (not
built on what landed) is not landed, and the report says why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli

PLAN = """[[task]]
id = "t"
agent = "scripted"
prompt = "x"
script = [{write = "a.txt", content = "A\\n"}, {contract = {summary = "did a"}}]
"""


def _landed_shard(repo: Path, tmp_path: Path) -> tuple[Path, str, Path]:
    """Task `t` run as shard 1/1 in `repo`, exported, and landed by `land --from` in a clone:
    (the export, the shard run's id, the clone)."""
    (tmp_path / "plan.toml").write_text(PLAN)
    export = tmp_path / "export"
    done = launcher_cli(repo, "run", str(tmp_path / "plan.toml"), "--shard", "1/1", "--no-merge",
                        "--export", str(export), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    first = launcher_cli(clone, "land", "--from", str(export), "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert git(clone, "show", "main:a.txt") == "A\n"
    return export, json.loads(done.stdout)["run_id"], clone


def _regrade(repo: Path, run_id: str, change: str) -> str:
    """The shard's task branch changed in its worktree (`change`: a shell command) and re-graded:
    approved at its new head, which is returned."""
    worktree = Path(launcher_cli(repo, "path", run_id, "t").stdout.strip())
    git(worktree, "config", "user.email", "t@t")
    git(worktree, "config", "user.name", "t")
    if change == "more":
        (worktree / "b.txt").write_text("B\n")
        git(worktree, "add", "b.txt")
        git(worktree, "commit", "-q", "-m", "more")
    else:  # rewritten: the landed commit replaced by another version of it
        (worktree / "a.txt").write_text("A, again\n")
        git(worktree, "commit", "-q", "-a", "--amend", "-m", "a, rewritten")
    head = git(worktree, "rev-parse", "HEAD").strip()
    graded = launcher_cli(repo, "grade", run_id, "t", "--json")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    return head


def _task(report: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in report["tasks"] if t["id"] == "t")


def test_land_from_again_lands_what_a_regraded_head_adds(repo: Path, tmp_path: Path) -> None:
    export, run_id, clone = _landed_shard(repo, tmp_path)
    head = _regrade(repo, run_id, "more")
    assert head in (export / "launcher-export.json").read_text()  # the export was written again

    again = launcher_cli(clone, "land", "--from", str(export), "--json")

    report = json.loads(again.stdout)
    task = _task(report)
    assert (again.returncode, report["status"], task["state"], task["merged"]) == (0, "succeeded", "merged", True)
    assert task["head_sha"] == head
    assert git(clone, "cat-file", "-t", f"{head}") == "commit\n"
    assert git(clone, "merge-base", "--is-ancestor", head, "main") == ""  # the head reported merged is on main
    assert git(clone, "show", "main:b.txt") == "B\n" and (clone / "b.txt").read_text() == "B\n"
    assert git(clone, "show", "main:a.txt") == "A\n"


def test_land_from_again_refuses_a_regraded_head_that_rewrote_the_landed_one(repo: Path, tmp_path: Path) -> None:
    export, run_id, clone = _landed_shard(repo, tmp_path)
    before = git(clone, "rev-parse", "main")
    head = _regrade(repo, run_id, "rewrite")

    again = launcher_cli(clone, "land", "--from", str(export), "--json")

    report = json.loads(again.stdout)
    task = _task(report)
    assert again.returncode == 1 and report["status"] == "failed", again.stdout
    assert task["state"] == "failed" and not task["merged"], task
    assert task["message"].startswith("not landed: an earlier land put this task on main"), task["message"]
    assert head[:12] in task["message"] and "does not contain that head" in task["message"]
    assert git(clone, "rev-parse", "main") == before  # nothing landed a second time


def test_land_run_in_the_shard_clone_lands_what_a_regraded_head_adds(repo: Path, tmp_path: Path) -> None:
    """The shard's own clone pulls the landed target, re-grades its task at a newer head and
    lands its run: the newer head's commit lands, it is not "already landed"."""
    _, run_id, clone = _landed_shard(repo, tmp_path)
    git(repo, "pull", "-q", "--ff-only", str(clone), "main")
    head = _regrade(repo, run_id, "more")

    landed = launcher_cli(repo, "land", run_id, "--json")

    task = _task(json.loads(landed.stdout))
    assert (landed.returncode, task["state"], task["merged"]) == (0, "merged", True), task
    assert "already landed" not in task["message"], task["message"]
    assert git(repo, "merge-base", "--is-ancestor", head, "main") == ""
    assert git(repo, "show", "main:b.txt") == "B\n" and (repo / "b.txt").read_text() == "B\n"
