"""`status` never says a branch, worktree or ref is kept once it is gone: the messages written
when the run kept them ("...; branch kept", "its commits are kept at REF") say it is gone since
`launcher clean --force` (or the user) deleted it, in the table and in `--json` alike."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli

# A command agent: argv[1] is the prompt; "conflict" edits the one shared line, "leave" commits
# on a branch of its own (it leaves the task's branch), anything else writes its own file.
AGENT = """
import json, os, pathlib, subprocess, sys, time
tid, prompt = os.environ["LAUNCHER_TASK_ID"], sys.argv[1]
changed = [f"out-{os.environ['LAUNCHER_RUN_ID']}-{tid}.txt"]
if prompt == "conflict":
    pathlib.Path("shared.txt").write_text(f"{tid} {time.time()}\\n")
    changed = ["shared.txt"]
elif prompt == "leave":
    subprocess.run(["git", "switch", "-q", "--orphan", f"elsewhere-{tid}"], check=True)
    pathlib.Path(changed[0]).write_text("x\\n")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "-c", "user.name=a", "-c", "user.email=a@a", "commit", "-qm", "elsewhere"], check=True)
else:
    pathlib.Path(changed[0]).write_text("x\\n")
pathlib.Path(os.environ["LAUNCHER_CONTRACT"]).write_text(json.dumps({
    "contract_version": "1", "task_id": tid, "status": "done", "summary": "s", "files_changed": changed,
    "tests_added": [], "decisions": [], "blockers": [], "llm_observations": "a test agent"}))
"""


def with_agent(repo: Path) -> Path:
    command = json.dumps([sys.executable, "-c", AGENT, "{prompt}"])
    (repo / "launcher.toml").write_text(
        f'default_agent = "bot"\n[agents.bot]\nadapter = "command"\ncommand = {command}\n')
    (repo / "shared.txt").write_text("base\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "agent")
    return repo


def status_json(repo: Path, run_id: str) -> dict[str, Any]:
    shown = launcher_cli(repo, "status", run_id, "--json")
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


def latest_run(repo: Path) -> str:
    return launcher_cli(repo, "runs").stdout.split()[0]


def test_a_conflicted_task_s_branch_deleted_by_clean_force_is_no_longer_said_kept(repo: Path) -> None:
    with_agent(repo)
    launcher_cli(repo, "run", "--task", "conflict", "--task", "conflict", "--quiet")
    run_id = latest_run(repo)
    conflicted = [t for t in status_json(repo, run_id)["tasks"] if t["state"] == "conflicted"]
    assert len(conflicted) == 1 and conflicted[0]["message"].endswith("; branch kept"), conflicted
    assert conflicted[0]["branch"]

    cleaned = launcher_cli(repo, "clean", run_id, "--force")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr

    after = next(t for t in status_json(repo, run_id)["tasks"] if t["id"] == conflicted[0]["id"])
    assert after["branch"] is None
    assert "branch kept" not in after["message"], after["message"]
    assert after["message"].endswith("; branch since deleted"), after["message"]
    table = launcher_cli(repo, "status", run_id).stdout
    assert "branch kept" not in table.replace("\n", " ").replace("│", " ").replace("  ", " ")


def test_a_kept_ref_named_in_a_message_is_said_deleted_once_clean_force_removed_it(repo: Path) -> None:
    with_agent(repo)
    launcher_cli(repo, "run", "--task", "leave", "--quiet")
    run_id = latest_run(repo)
    failed = status_json(repo, run_id)["tasks"][0]
    assert failed["state"] == "failed" and "its commits are kept at refs/launcher/" in failed["message"], failed
    ref = failed["message"].split("kept at ")[1].split()[0]
    assert git(repo, "for-each-ref", ref) != ""

    launcher_cli(repo, "clean", run_id)  # a plain clean keeps that ref: the message stays as it was
    assert status_json(repo, run_id)["tasks"][0]["message"] == failed["message"]

    launcher_cli(repo, "clean", run_id, "--force")
    assert git(repo, "for-each-ref", ref) == ""
    message = status_json(repo, run_id)["tasks"][0]["message"]
    assert f"its commits were kept at {ref} (deleted since)" in message, message
    assert "are kept at" not in message
