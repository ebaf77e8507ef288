"""What an agent writes is kept with the values the run passed it masked, wherever it is kept.

An agent given OPENAI_API_KEY through its `env` that echoed it into its completion contract had
it printed live (`t collected done with <key>`) and kept raw in the journal, the task's
contract.json, contract.agent.json and rounds/1.json: a later `launcher status --json` in a shell
without the variable (nothing left to mask with) printed it. The journal, the run's files and
the live lines now hold `***(OPENAI_API_KEY)`; and `launcher logs` masks the agent's raw log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git

KEY = "sk-test-FAKE-contract-4242"
MARK = "***(OPENAI_API_KEY)"
CONTRACT = ('{"contract_version":"1","task_id":"t","status":"done","summary":"done with %s",'
            '"files_changed":["app.py"],"tests_added":[],"decisions":[],"blockers":[],'
            '"llm_observations":"used %s"}')


def plan_text(check: str) -> str:
    script = (f"echo agent has $OPENAI_API_KEY; echo more >> app.py && git add -A && git commit -qm work && "
              f"printf '{CONTRACT}' \"$OPENAI_API_KEY\" \"$OPENAI_API_KEY\" > \"$LAUNCHER_CONTRACT\"")
    script = script.replace("\\", "\\\\").replace('"', '\\"')
    return (f'[agents.bot]\nadapter = "command"\ncommand = ["sh", "-c", "{script}"]\nenv = ["OPENAI_API_KEY"]\n\n'
            f'[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\nchecks = ["{check}"]\n')


def launcher(repo: Path, *args: str, key: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    if key:
        env["OPENAI_API_KEY"] = KEY
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=180)


def kept_bytes(repo: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted((repo / ".launcher").rglob("*"))
                    if path.is_file() and path.name != "agent.log")  # the agent's raw transcript


def test_an_agents_echoed_key_is_masked_live_in_the_journal_and_in_the_runs_files(
        repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text("false"))
    done = launcher(repo, "run", str(plan), "--no-merge")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"collected done with {MARK}" in done.stdout  # the live line
    assert KEY not in done.stdout + done.stderr
    assert KEY.encode() not in kept_bytes(repo)  # journal (and WAL), contract.json, rounds/1.json, ...
    (run,) = [p.name for p in (repo / ".launcher" / "runs").iterdir()]
    assert f"done with {MARK}" in (repo / ".launcher" / "runs" / run / "t" / "contract.agent.json").read_text()
    status = launcher(repo, "status", "--json", key=False)  # later, without the variable
    assert f"done with {MARK}" in status.stdout and f"used {MARK}" in status.stdout
    assert KEY not in status.stdout + status.stderr
    logs = launcher(repo, "logs", run, "t")  # the raw log, shown masked
    assert f"agent has {MARK}" in logs.stdout
    assert KEY not in logs.stdout + logs.stderr
    resumed = launcher(repo, "resume", run, "--retry-failed")
    assert KEY not in resumed.stdout + resumed.stderr
    assert KEY.encode() not in kept_bytes(repo)
