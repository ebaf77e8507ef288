"""A `check_env` value a failing check (or setup command) prints is never shown nor kept.

It was masked in the final report only: the live event line (`t failed check failed: ...
check output <value>`) printed it while the run went, the journal kept it raw (so a later
`launcher status --json` in a shell without the variable printed it), and so did the task's
facts.json, which `launcher logs --checks` prints, and setup.log. Now the output is masked where
it is taken, as `***(NAME)`, and the journal keeps only the masked text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git

SECRET = "db-pass-FAKE-7a1c93"
MARK = "***(DB_PASSWORD)"
AGENT = ('[agents.bot]\nadapter = "command"\n'
         'command = ["sh", "-c", "echo more >> app.py && git add -A && git commit -qm work"]\n\n')


def launcher(repo: Path, *args: str, secret: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DB_PASSWORD"}
    if secret:
        env["DB_PASSWORD"] = SECRET
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=180)


def kept_bytes(repo: Path) -> bytes:
    """Everything the launcher keeps in the repository: its journal (with its WAL) and run files."""
    return b"".join(path.read_bytes() for path in sorted((repo / ".launcher").rglob("*")) if path.is_file())


def run_id(repo: Path) -> str:
    (run,) = [p.name for p in (repo / ".launcher" / "runs").iterdir()]
    return run


def test_a_failing_checks_printed_value_is_masked_live_in_the_journal_and_in_logs(repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    plan = tmp_path / "plan.toml"
    plan.write_text('[run]\ncheck_env = ["DB_PASSWORD"]\n\n' + AGENT +
                    '[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\n'
                    "checks = [\"sh -c 'echo connecting with $DB_PASSWORD; exit 1'\"]\n")
    done = launcher(repo, "run", str(plan), "--no-merge")
    assert done.returncode == 1, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr  # the live line and the final table
    assert f"connecting with {MARK}" in done.stdout
    assert SECRET.encode() not in kept_bytes(repo)  # journal, facts.json
    # Later, in a shell without the variable: what was kept is already masked.
    status = launcher(repo, "status", "--json", secret=False)
    assert MARK in status.stdout and SECRET not in status.stdout + status.stderr
    checks = launcher(repo, "logs", "--checks", run_id(repo), "t", secret=False)
    assert f"connecting with {MARK}" in checks.stdout
    assert SECRET not in checks.stdout + checks.stderr


def test_a_failing_setup_commands_printed_value_is_masked_in_its_message_and_setup_log(
        repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    plan = tmp_path / "plan.toml"
    plan.write_text('[run]\ncheck_env = ["DB_PASSWORD"]\n\n' + AGENT +
                    '[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\n'
                    "setup = \"sh -c 'echo setup with $DB_PASSWORD >&2; exit 2'\"\n")
    done = launcher(repo, "run", str(plan), "--no-merge")
    assert done.returncode == 1, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert f"setup with {MARK}" in done.stdout
    setup_log = repo / ".launcher" / "runs" / run_id(repo) / "t" / "setup.log"
    assert f"setup with {MARK}" in setup_log.read_text()
    assert SECRET.encode() not in kept_bytes(repo)
