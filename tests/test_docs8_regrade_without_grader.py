"""A run without a grader (the `launcher init` starter config has none) approves a task on its
agent's contract and its checks. When that task's branch changes after approval, `status` says
"approval withdrawn ... re-grade with `launcher grade RUN TASK`", and that works: `grade`
re-measures the new head (files, claims, scope, the task's checks) and approves it again on the
run's own bar, saying so; `launcher land` then lands the new head. A failing check at the new head
fails the task instead. A task the run never approved is not approved on checks alone: `grade`
refuses and names what works for that run (`launcher resume RUN --retry-failed`), never "set a
grader in launcher.toml", which the run (keeping the settings it started with) would ignore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli


def _plan(path: Path, task: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"task": [{"id": "t1", "agent": "scripted", "prompt": "p", **task}]}))
    return path


def _run_id(repo: Path) -> str:
    return str(json.loads(launcher_cli(repo, "runs", "--json").stdout)[0]["run_id"])


def _commit_on_branch(repo: Path, run_id: str, name: str, text: str) -> str:
    worktree = Path(launcher_cli(repo, "path", run_id, "t1").stdout.strip())
    (worktree / name).write_text(text)
    git(worktree, "add", name)
    git(worktree, "commit", "-q", "-m", f"{name} after approval")
    return git(worktree, "rev-parse", "HEAD").strip()


def test_an_approval_withdrawn_in_a_run_without_a_grader_is_re_measured_and_lands(
    repo: Path, tmp_path: Path
) -> None:
    plan = _plan(tmp_path / "plan.json", {"script": [{"write": "one.txt", "content": "1\n"}],
                                          "checks": ["test -f one.txt"]})
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 0
    run_id = _run_id(repo)
    head = _commit_on_branch(repo, run_id, "two.txt", "2\n")
    shown = launcher_cli(repo, "status", run_id, "--exit-status")
    assert shown.returncode == 1 and f"re-grade with `launcher grade {run_id} TASK`" in shown.stdout, shown.stdout

    graded = launcher_cli(repo, "grade", run_id, "t1", "--json")  # what status told the user to run
    assert graded.returncode == 0, graded.stdout + graded.stderr
    report = json.loads(graded.stdout)
    task = report["tasks"][0]
    assert report["status"] == "succeeded" and task["state"] == "approved", report
    assert f"re-measured at {head[:12]}" in task["message"] and "no grader" in task["message"], task["message"]
    assert launcher_cli(repo, "status", run_id, "--exit-status").returncode == 0

    landed = launcher_cli(repo, "land", run_id, "--json")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert {"one.txt", "two.txt"} <= set(git(repo, "ls-tree", "-r", "--name-only", "main").split())


def test_a_change_that_breaks_the_tasks_check_fails_the_re_grade_without_a_grader(
    repo: Path, tmp_path: Path
) -> None:
    plan = _plan(tmp_path / "plan.json", {"script": [{"write": "one.txt", "content": "1\n"}],
                                          "checks": ["test ! -f evil.txt"]})
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 0
    run_id = _run_id(repo)
    _commit_on_branch(repo, run_id, "evil.txt", "x\n")
    graded = launcher_cli(repo, "grade", run_id, "t1", "--json")
    assert graded.returncode == 1, graded.stdout + graded.stderr
    task = json.loads(graded.stdout)["tasks"][0]
    assert task["state"] == "failed" and "check failed" in task["message"], task
    assert "evil.txt" not in git(repo, "ls-tree", "-r", "--name-only", "main")


def test_a_task_never_approved_in_a_run_without_a_grader_is_refused_naming_what_works(
    repo: Path, tmp_path: Path
) -> None:
    plan = _plan(tmp_path / "plan.json", {"script": [{"write": "one.txt", "content": "1\n"}],
                                          "checks": ["false"]})
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 1
    run_id = _run_id(repo)
    # even with a grader in launcher.toml now: the run keeps the settings it started with
    (repo / "launcher.toml").write_text('[grading]\ngrader = "scripted-grader"\n')
    git(repo, "add", "launcher.toml")
    git(repo, "commit", "-q", "-m", "set a grader")
    graded = launcher_cli(repo, "grade", run_id, "t1")
    assert graded.returncode == 2, graded.stdout + graded.stderr
    said = " ".join(graded.stderr.split())
    assert f"run {run_id} has no grader" in said and "was never approved" in said, said
    assert f"`launcher resume {run_id} --retry-failed`" in said, said
    assert "set [grading] grader" not in said, said
    assert json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)["tasks"][0]["state"] == "failed"
