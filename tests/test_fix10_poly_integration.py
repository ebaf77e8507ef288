"""The integration check runs the merged code in a tree set up as a task's worktree is: the
`.worktreeinclude` files (a `node_modules`) are copied in, so a command that passes in every
task's worktree and in the main checkout passes on the merge result too. What the check leaves
in that tree, the copied files included, goes with the tree: it is never committed or landed."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import anyio
from helpers import git, launcher_cli, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport
from launcher.models.states import RunStatus, TaskState

NEEDS_DEPENDENCY = "test \"$(cat node_modules/leftpad/index.js)\" = 'pad it'"


def run_shell(repo: Path, script: str, **run: Any) -> RunReport:
    plan = validate_plan({"run": run, "agents": {"sh": {"adapter": "command", "command": ["sh", "-c", script]}},
                          "task": [{"id": "feature", "agent": "sh", "prompt": "x", "checks": [NEEDS_DEPENDENCY]}]},
                         "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def with_node_modules(repo: Path) -> None:
    (repo / "node_modules/leftpad").mkdir(parents=True)
    (repo / "node_modules/leftpad/index.js").write_text("pad it")
    (repo / ".gitignore").write_text((repo / ".gitignore").read_text() + "node_modules/\n")
    (repo / ".worktreeinclude").write_text("node_modules/\n")
    git(repo, "add", ".gitignore", ".worktreeinclude")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "include node_modules")


def ever_committed(repo: Path, path: str) -> str:
    return subprocess.run(["git", "log", "--all", "--format=%h", "--", path], cwd=repo,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_integration_check_gets_the_include_files_and_the_task_lands(repo: Path) -> None:
    with_node_modules(repo)
    report = run_shell(repo, "echo 'module.exports = 1' > feature.js", integration_check=NEEDS_DEPENDENCY)
    t = task(report, "feature")
    assert t.state == TaskState.MERGED, f"{t.message}\n{report.message}"
    assert report.status == RunStatus.SUCCEEDED, report.message
    assert "fails on main" not in report.message
    assert git(repo, "show", "main:feature.js") == "module.exports = 1\n"


def test_what_the_integration_check_commits_in_its_tree_never_lands(repo: Path) -> None:
    with_node_modules(repo)
    sneaky = (f"{NEEDS_DEPENDENCY} && echo built > node_modules/leftpad/built.txt && git add -A -f"
              " && git -c user.name=c -c user.email=c@c commit -qm 'check commits everything'")
    report = run_shell(repo, "echo 'module.exports = 1' > feature.js", integration_check=sneaky)
    assert task(report, "feature").merged, task(report, "feature").message
    assert ever_committed(repo, "node_modules") == ""
    assert not (repo / "node_modules/leftpad/built.txt").exists()
    assert git(repo, "ls-files", "node_modules") == ""


BREAKS_MAIN = ("if [ -e bad.txt ]; then echo 'running the suite'; echo '  ● app › boots'; echo;"
               " echo '    Expected: 200'; echo '    Received: 500'; echo 'Ran all test suites.'; exit 3; fi")


def test_a_culprit_of_the_integration_check_shows_its_output_in_logs_checks(repo: Path) -> None:
    plan = validate_plan({"run": {"integration_check": BREAKS_MAIN, "iteration_cap": 1},
                          "agents": {"sh": {"adapter": "command", "command": ["sh", "-c", "echo x > bad.txt"]}},
                          "task": [{"id": "breaker", "agent": "sh", "prompt": "x"}]}, "test plan")
    report = anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)
    t = task(report, "breaker")
    assert not t.merged
    assert t.message.endswith("● app › boots: Expected: 200; Received: 500"), t.message
    shown = launcher_cli(repo, "logs", report.run_id, "breaker", "--checks")
    assert shown.returncode == 0, shown.stderr
    assert "ran no checks" not in shown.stdout
    assert "integration check on" in shown.stdout and "(FAILED, exit 3)" in shown.stdout, shown.stdout
    assert "running the suite" in shown.stdout and "Received: 500" in shown.stdout
