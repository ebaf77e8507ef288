"""`launcher resume` after Ctrl-C and then `launcher clean` (which removes the task's worktree and
keeps its branch, because the branch holds the agent's commits) continues the task from that
branch: a finished agent round is graded and landed, never re-run and never failed. No message
tells the user to `git branch -D` a branch that holds such work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from helpers import git, launcher_cli

from launcher.errors import GitFailed
from launcher.git.repo import GitRepo
from launcher.git.worktrees import create_worktree


def _state(repo: Path, run_id: str | None = None) -> str:
    shown = launcher_cli(repo, "status", *([run_id] if run_id else []), "--json")
    if shown.returncode != 0:
        return ""
    tasks = json.loads(shown.stdout)["tasks"]
    return str(tasks[0]["state"]) if tasks else ""


def test_resume_after_ctrl_c_and_clean_grades_the_agents_commit_from_its_branch(repo: Path, tmp_path: Path) -> None:
    go, rounds = tmp_path / "grader-may-answer", tmp_path / "agent-rounds"
    grader = f'while [ ! -e {go} ]; do sleep 0.1; done; exec {sys.executable} -m launcher.agents.scripted_grader "$0"'
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"grader": "judge"},
        "agents": {"judge": {"adapter": "command", "command": ["sh", "-c", grader, "{packet}"]}},
        "task": [{"id": "graded", "script": [
            {"run": ["sh", "-c", f"echo round >> {rounds}"]},
            {"write": "out.txt", "content": "the agent's work\n"}, {"commit": "agent work"}]}],
    }))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    run = subprocess.Popen(
        [sys.executable, "-m", "launcher", "run", str(plan), "--quiet"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _state(repo) != "grading":
            assert time.monotonic() < deadline and run.poll() is None, "the task never reached its grader"
            time.sleep(0.2)
        time.sleep(0.5)
        os.killpg(run.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
        assert run.wait(timeout=30) == 130
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    run_id = json.loads(launcher_cli(repo, "status", "--json").stdout)["run_id"]
    branch = f"launcher/{run_id}/graded"

    cleaned = launcher_cli(repo, "clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"kept branch {branch}" in cleaned.stdout
    agent_commit = git(repo, "rev-parse", branch).strip()

    go.touch()
    resumed = launcher_cli(repo, "resume", "--json")
    report = json.loads(resumed.stdout)
    (task,) = report["tasks"]
    assert resumed.returncode == 0, task["message"]
    assert (report["status"], task["state"]) == ("succeeded", "merged")
    assert "branch -D" not in resumed.stdout + resumed.stderr
    assert rounds.read_text() == "round\n"  # the agent's finished round was not run (or paid) again
    assert (repo / "out.txt").read_text() == "the agent's work\n"
    assert git(repo, "merge-base", "--is-ancestor", agent_commit, "main") == ""  # its very commit landed
    notes = " ".join(n["message"] for n in report["notes"])
    assert "re-created at" in notes and f"on its branch {branch}" in notes


def test_a_task_branch_holding_commits_is_never_to_be_deleted(repo: Path, tmp_path: Path) -> None:
    # The branch exists past the start the launcher wants: it may be an agent's work.
    git(repo, "switch", "-q", "-c", "launcher/r-1/a")
    (repo / "work.txt").write_text("work\n")
    git(repo, "add", "work.txt")
    git(repo, "commit", "-qm", "agent work")
    git(repo, "switch", "-q", "main")

    async def create() -> None:
        gr = await GitRepo.discover(repo)
        await create_worktree(gr, path=tmp_path / "wt", branch="launcher/r-1/a", start="main")

    with pytest.raises(GitFailed) as refused:
        anyio.run(create)
    assert "branch -D" not in refused.value.message
    assert "may hold an agent's work, which the launcher never resets or deletes" in refused.value.message
    assert "`git branch -m launcher/r-1/a kept/launcher/r-1/a`" in refused.value.message
    assert git(repo, "log", "-1", "--format=%s", "launcher/r-1/a").strip() == "agent work"
