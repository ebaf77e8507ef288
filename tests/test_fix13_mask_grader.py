"""A grader's answer is kept with the values it was passed masked.

A grader given GRADER_TOKEN through its `env` that echoed it into a justification had it
written verbatim to `grading/1-verdict.json`, and, asking for a fix, into the task's message the
live line, `status` and the step summary show. Its answer is now masked (`***(GRADER_TOKEN)`)
before it is validated, written and reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git

TOKEN = "grader-tok-FAKE-0d0d0d"
MARK = "***(GRADER_TOKEN)"


def test_a_graders_echoed_token_is_masked_in_its_verdict_file_messages_and_journal(
        repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    verdict = {"verdict": "needs_revision", "iteration": 1, "rubric_version": "default@1",
               "required_fixes": ["rotate the key GRADER_TOKEN_VALUE you used"],
               "criterion_results": [{"criterion": f"C{n}", "pass": n != 1, "justification": "GRADER_TOKEN_VALUE seen"}
                                     for n in range(1, 8)]}
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps(verdict))
    grader = tmp_path / "grader.sh"  # writes the verdict with its own token in it
    grader.write_text(f'#!/bin/sh\nsed "s/GRADER_TOKEN_VALUE/$GRADER_TOKEN/g" {answer} > "$LAUNCHER_CONTRACT"\n')
    grader.chmod(0o755)
    plan = tmp_path / "plan.toml"
    plan.write_text('[run]\ngrader = "rev"\niteration_cap = 1\non_cap = "defer"\n\n'
                    '[agents.bot]\nadapter = "command"\n'
                    'command = ["sh", "-c", "echo more >> app.py && git add -A && git commit -qm work"]\n\n'
                    f'[agents.rev]\nadapter = "command"\ncommand = ["{grader}"]\nenv = ["GRADER_TOKEN"]\n\n'
                    '[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\n')
    env = {**os.environ, "GRADER_TOKEN": TOKEN}
    done = subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--no-merge"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=180)
    assert TOKEN not in done.stdout + done.stderr
    (kept,) = list((repo / ".launcher").rglob("1-verdict.json"))
    assert f"{MARK} seen" in kept.read_text()
    everything = b"".join(p.read_bytes() for p in (repo / ".launcher").rglob("*")
                          if p.is_file() and p.name != "agent.log")  # the grader's raw transcript
    assert TOKEN.encode() not in everything
    status = subprocess.run([sys.executable, "-m", "launcher", "status", "--json"], cwd=repo,
                            capture_output=True, text=True, timeout=60)
    assert TOKEN not in status.stdout + status.stderr
