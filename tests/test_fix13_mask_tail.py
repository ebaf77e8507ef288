"""A value cut by the edge of an output tail is masked all the same.

Agent and check output is reported as its tail (an agent's failure message: its last 500
characters; a check's: its last 4000). Masking ran on the tail, after the cut: a key whose first
characters fell before the cut was no longer found whole, and the rest of it was reported as it
is. The output is now masked before any tail of it is taken."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git

KEY = "sk-test-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def run(repo: Path, tmp_path: Path, agent: str, check: str) -> subprocess.CompletedProcess[str]:
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    script = tmp_path / "agent.sh"
    script.write_text(f"#!/bin/sh\n{agent}\n")
    script.chmod(0o755)
    plan = tmp_path / "plan.toml"
    plan.write_text('[run]\ncheck_env = ["OPENAI_API_KEY"]\n\n'
                    f'[agents.bot]\nadapter = "command"\ncommand = ["{script}"]\nenv = ["OPENAI_API_KEY"]\n\n'
                    '[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\n'
                    f"checks = [\"{check}\"]\n")
    return subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--no-merge"], cwd=repo,
                          env={**os.environ, "OPENAI_API_KEY": KEY}, capture_output=True, text=True, timeout=180)


def leaked(repo: Path, text: str) -> list[str]:
    """Where a telling part of the key (its last 30 characters) shows."""
    part = KEY[-30:]
    kept = [str(p) for p in (repo / ".launcher").rglob("*") if p.is_file() and p.name != "agent.log"
            and part.encode() in p.read_bytes()]
    return kept + (["output"] if part in text else [])


def test_a_key_at_the_edge_of_a_failing_agents_message_is_masked(repo: Path, tmp_path: Path) -> None:
    pad = "." * 460  # the key, then 460 characters on its line: the 500-character tail starts inside it
    done = run(repo, tmp_path, f"printf 'auth failed for key %s{pad}' \"$OPENAI_API_KEY\" >&2; exit 1", "true")
    assert done.returncode == 1, done.stdout + done.stderr
    assert leaked(repo, done.stdout + done.stderr) == []
    status = subprocess.run([sys.executable, "-m", "launcher", "status", "--json"], cwd=repo,
                            capture_output=True, text=True, timeout=60)
    assert leaked(repo, status.stdout) == []


def test_a_key_at_the_edge_of_a_failing_checks_tail_is_masked(repo: Path, tmp_path: Path) -> None:
    agent = "echo more >> app.py && git add -A && git commit -qm work"
    done = run(repo, tmp_path, agent, "printf '%s%3970s' $OPENAI_API_KEY x; exit 1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert leaked(repo, done.stdout + done.stderr) == []
