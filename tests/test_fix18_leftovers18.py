"""Defects other reviews found and left open (session 18).

- An agent that only stages a new submodule pointer (`git update-index --cacheinfo
  160000,<commit>,sub`, the submodule still checked out at the recorded commit) has moved the
  pointer: the launcher's `git add -A` of its leftovers no longer puts the pointer back, so the
  task fails as any that moves a submodule pointer does (branch kept), never `skipped: no changes`.
- `status --json` lists the conflict matrix as it stands while work waits to land: a pair whose
  tasks both landed (a conflict resolved by the agent, then landed) is not shown as a conflict.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import git, launcher_cli, run_plan, task

from launcher.models.states import TaskState

FILE_PROTOCOL = ("-c", "protocol.file.allow=always")


def _repo_with_submodule(tmp_path: Path) -> tuple[Path, list[str]]:
    sub = tmp_path / "sub"
    sub.mkdir()
    git(sub, "init", "-q", "-b", "main")
    commits = []
    for i in range(2):
        (sub / "f").write_text(f"{i}\n")
        git(sub, "add", "-A")
        git(sub, "commit", "-qm", f"s{i}")
        commits.append(git(sub, "rev-parse", "HEAD").strip())
    git(sub, "checkout", "-q", commits[0])
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "x.txt").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, *FILE_PROTOCOL, "submodule", "add", "-q", str(sub), "sub")
    git(repo, "commit", "-qm", "sub")
    return repo, commits


def test_a_submodule_pointer_only_staged_fails_the_task_instead_of_being_dropped(tmp_path: Path) -> None:
    repo, commits = _repo_with_submodule(tmp_path)
    stage = f"git update-index --cacheinfo 160000,{commits[1]},sub"
    report = run_plan(repo, [{"id": "one", "prompt": "x", "script": [{"run": ["sh", "-c", stage]}]}])
    one = task(report, "one")
    assert one.state == TaskState.FAILED, one.message
    assert "changed the commit of submodule sub" in (one.message or "")
    assert report.status != "succeeded"
    # Nothing landed, the branch with the agent's pointer is kept.
    assert git(repo, "ls-tree", "HEAD", "sub").split()[2] == commits[0]
    assert one.branch and git(repo, "ls-tree", one.branch, "sub").split()[2] == commits[1]
    assert os.path.isdir(repo / "sub")


def test_status_shows_no_conflict_between_two_tasks_that_both_landed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    report = run_plan(repo, [
        {"id": "one", "prompt": "x", "script": [{"run": ["sh", "-c", "echo one > a.txt"]}]},
        {"id": "two", "prompt": "x", "script": [
            {"run": ["sh", "-c", "echo two > a.txt"], "rounds": [1]},
            {"run": ["sh", "-c", "echo one two > a.txt"], "rounds": [2]}]},
    ], on_conflict="agent")
    assert [t.state for t in report.tasks] == ["merged", "merged"], report.tasks
    assert "to resolve conflicts" in git(repo, "log", "--format=%s", "main")  # the pair did conflict
    status = launcher_cli(repo, "status", "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert all(t["merged"] for t in shown["tasks"])
    assert shown["conflicts"] == []
    assert report.conflicts == []
