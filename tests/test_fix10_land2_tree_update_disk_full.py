"""The disk fills up while a landing brings the main work tree to the target it just moved:
`git read-tree -m -u` fails, and putting the target back fails too (no room for its lock file).
The target then holds the landed work and the main work tree does not. That landing is not
finished and its tasks are not `merged` ("merged" means on the target and in the work tree):
the run is `interrupted`, its tasks `approved` with `merged: unfinished`, and the message says to
free space and run `launcher resume`/`land`, which brings the work tree to the target and only
then records the tasks as landed. Never `succeeded` with the landed file missing from the tree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import git, git_on_path, launcher_cli


def _disk_fills_at_the_tree_update(tmp_path: Path, refs: str = "*") -> tuple[dict[str, str], Path]:
    """A PATH whose git fails the next `read-tree -m -u` as a full disk does, after which every
    `update-ref` (of `refs`, a shell pattern) fails too (no room for a lock file) until the
    returned file is removed."""
    arm, full = tmp_path / "arm", tmp_path / "full"
    arm.touch()
    return git_on_path(tmp_path, folder="full-disk-bin", prelude=(
        'case "$*" in\n'
        f'  "read-tree -m -u"*) if [ -e {arm} ]; then rm -f {arm}; : > {full}; '
        "echo \"fatal: sha1 file '.git/index.lock' write error. Out of diskspace\" >&2; exit 128; fi;;\n"
        f'  "update-ref "{refs}) if [ -e {full} ]; then '
        "echo \"fatal: update_ref failed: couldn't write '.git/refs/heads/main.lock'\" >&2; exit 128; fi;;\n"
        "esac")), full


def _approved_run(repo: Path, tmp_path: Path) -> str:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "a", "script": [{"write": "a.txt", "content": "A\n"}]}]}))
    ran = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return str(json.loads(ran.stdout)["run_id"])


def _unfinished(report: dict[str, Any], run_id: str) -> None:
    (task,) = report["tasks"]
    assert report["status"] == "interrupted", report["status"] + " " + report["message"]
    assert task["state"] == "approved" and task["merged"] is False, task
    assert task["landing_unfinished"] and f"`launcher resume {run_id}`" in task["landing_unfinished"], task


# Every ref write fails (the integration branch too), or only the put-back of main (the result
# could have been parked, but main holds it: parking would say "main was not moved").
@pytest.mark.parametrize("refs", ["*", "*refs/heads/main*"])
def test_land_whose_tree_update_and_put_back_fail_on_a_full_disk_is_finished_once_space_is_freed(
    repo: Path, tmp_path: Path, refs: str
) -> None:
    run_id = _approved_run(repo, tmp_path)
    full_disk, full = _disk_fills_at_the_tree_update(tmp_path, refs)

    landed = launcher_cli(repo, "land", run_id, "--json", env=full_disk)

    assert landed.returncode == 130, landed.stdout + landed.stderr
    report = json.loads(landed.stdout)
    _unfinished(report, run_id)
    assert git(repo, "show", "main:a.txt") == "A\n" and not (repo / "a.txt").exists()
    said = report["message"]
    assert "Out of diskspace" in said and "could not be put back" in said, said
    assert "Free space" in said and "launcher resume" in said and "do not commit them" in said, said
    assert "was not moved" not in said, said  # it was moved: main holds the landed work
    shown = launcher_cli(repo, "status", run_id)
    assert "Landed on main" not in shown.stdout and "succeeded" not in shown.stdout, shown.stdout

    full.unlink()  # space freed
    again = launcher_cli(repo, "land", run_id, "--json")

    report = json.loads(again.stdout)
    assert again.returncode == 0 and report["status"] == "succeeded", again.stdout + again.stderr
    assert report["tasks"][0]["state"] == "merged" and report["tasks"][0]["merged"] is True
    assert (repo / "a.txt").read_text() == "A\n"
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""


def test_resume_finishing_a_killed_landing_on_a_full_disk_keeps_it_unfinished_until_space_is_freed(
    repo: Path, tmp_path: Path
) -> None:
    run_id = _approved_run(repo, tmp_path)
    killer = git_on_path(tmp_path, 'case "$*" in "read-tree -m -u"*) kill -9 $PPID; exit 1;; esac', "killer-bin")
    killed = launcher_cli(repo, "land", run_id, "--quiet", env=killer)
    assert killed.returncode == -9, killed.stderr
    assert git(repo, "show", "main:a.txt") == "A\n" and not (repo / "a.txt").exists()
    full_disk, full = _disk_fills_at_the_tree_update(tmp_path)

    resumed = launcher_cli(repo, "resume", run_id, "--json", env=full_disk)

    assert resumed.returncode == 130, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    _unfinished(report, run_id)
    assert not (repo / "a.txt").exists()
    said = json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)["message"]
    assert "Free space" in said and "launcher resume" in said, said

    full.unlink()  # space freed
    again = launcher_cli(repo, "resume", run_id, "--json")

    report = json.loads(again.stdout)
    assert again.returncode == 0 and report["status"] == "succeeded", again.stdout + again.stderr
    assert report["tasks"][0]["state"] == "merged" and (repo / "a.txt").read_text() == "A\n"
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
