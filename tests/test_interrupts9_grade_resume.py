"""`launcher grade RUN TASK` stopped while it re-measures the branch's head (Ctrl-C, or killed
with -9), then the documented `launcher resume RUN`: the resume finishes that re-grade, at the
head the user asked to grade; it never runs the task's agent again (a paid round nobody asked
for, whose new commit would be what gets approved and lands)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from helpers import git, launcher_cli, start_launcher, wait_for_file

BOT = """#!/bin/sh
echo "round $LAUNCHER_ITERATION" >> "$AGENT_ROUNDS"
echo "$1" >> "docs.md"; git add -A; git commit -qm "bot $1"
printf '{"contract_version":"1","task_id":"%s","status":"done","summary":"s","files_changed":["docs.md"],\
"tests_added":[],"decisions":[],"blockers":[],"llm_observations":"o"}' "$1" > "$LAUNCHER_CONTRACT"
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
def test_resume_after_a_stopped_grade_finishes_the_regrade_of_the_users_head_without_an_agent_round(
    repo: Path, tmp_path: Path, signum: int
) -> None:
    rounds, slow, started = tmp_path / "agent-rounds", tmp_path / "slow", tmp_path / "check-started"
    (repo / "bot.sh").write_text(BOT)
    (repo / "launcher.toml").write_text(
        'default_agent = "bot"\n[agents.bot]\nadapter = "command"\ncommand = ["sh", "bot.sh", "{task_id}"]\n'
        f'set_env = {{ AGENT_ROUNDS = "{rounds}" }}\n'
        '[agents.judge]\nadapter = "scripted-grader"\nset_env = { LAUNCHER_GRADER_MODE = "always_satisfied" }\n'
    )
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "agent")
    plan = tmp_path / "plan.json"
    check = f"if [ -e {slow} ]; then touch {started}; sleep 30; fi"
    plan.write_text(json.dumps({"run": {"grader": "judge"}, "task": [{"id": "a", "prompt": "p", "checks": [check]}]}))
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    assert rounds.read_text().splitlines() == ["round 1"]
    worktree = Path(launcher_cli(repo, "path", run_id, "a").stdout.strip())
    (worktree / "docs.md").write_text("the user's edit\n")
    git(worktree, "-c", "user.name=u", "-c", "user.email=u@u", "commit", "-qam", "user edit")
    users_head = git(worktree, "rev-parse", "HEAD").strip()

    slow.touch()
    grade = start_launcher(repo, "grade", run_id, "a", "--quiet", stderr_to_stdout=True)
    wait_for_file(started, grade)
    time.sleep(0.3)
    if signum == signal.SIGINT:
        os.killpg(grade.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    else:
        os.kill(grade.pid, signal.SIGKILL)  # the launcher alone: resume kills what it left
    grade.communicate(timeout=60)
    slow.unlink()
    assert launcher_cli(repo, "status", run_id, "--exit-status").returncode == 130

    resumed = launcher_cli(repo, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    (task,) = report["tasks"]
    assert rounds.read_text().splitlines() == ["round 1"]  # no agent round: the re-grade was finished
    assert (task["state"], task["head_sha"]) == ("approved", users_head)
    assert git(worktree, "rev-parse", "HEAD").strip() == users_head
    assert [r["iteration"] for r in task["rounds"]] == [1, 2]  # the grade's round 2, graded
    assert report["status"] == "succeeded" and "interrupted" not in report["message"]


def test_choose_on_a_run_with_a_stopped_regrade_is_refused_naming_resume(repo: Path, tmp_path: Path) -> None:
    # Carrying the run on (as a choice does) would take the re-grade's round for an agent's.
    go, started = tmp_path / "go", tmp_path / "check-started"
    go.touch()
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "run": {"grader": "judge"},
                "agents": {
                    "judge": {"adapter": "scripted-grader", "set_env": {"LAUNCHER_GRADER_MODE": "always_satisfied"}}
                },
                "task": [
                    {
                        "id": "a",
                        "checks": [f"sh -c 'test -f {go} || {{ touch {started}; sleep 30; }}'"],
                        "script": [{"write": "a.txt", "content": "a\n"}],
                    }
                ],
            }
        )
    )
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    go.unlink()
    grade = start_launcher(repo, "grade", run_id, "a", "--quiet", stderr_to_stdout=True)
    wait_for_file(started, grade)
    os.killpg(grade.pid, signal.SIGINT)
    grade.communicate(timeout=60)
    go.touch()

    chosen = launcher_cli(repo, "choose", run_id, "a", "approve")
    assert chosen.returncode == 2
    assert f"`launcher resume {run_id}`" in chosen.stderr and "unfinished re-grade of task 'a'" in chosen.stderr
