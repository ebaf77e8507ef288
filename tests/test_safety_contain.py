"""Issue 10 part 5: an agent cannot reach past its worktree through git, hooks, other trees or
processes that escape its process group."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import git, run_plan, task

# A command agent: runs the Python code in argv[1] inside its worktree, then reports done.
AGENT = """
import json, os, pathlib, subprocess, sys
def common_dir():
    out = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True, text=True)
    return pathlib.Path(out.stdout.strip()).resolve()
exec(sys.argv[1])
pathlib.Path(os.environ["LAUNCHER_CONTRACT"]).write_text(json.dumps({
    "contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
    "summary": "did it", "files_changed": [], "tests_added": [], "decisions": [], "blockers": [],
    "llm_observations": ""}))
"""


def command_task(task_id: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "agent": task_id, **extra,
            "_agent": {"adapter": "command", "command": [sys.executable, "-c", AGENT, code]}}


def run_commands(repo: Path, tasks: list[dict[str, Any]], **run: Any) -> Any:
    """run_plan with each task's own command agent (declared under [agents])."""
    import anyio

    from launcher.app.run import RunOptions, start_run
    from launcher.models.plan import validate_plan

    agents = {t["id"]: t.pop("_agent") for t in tasks if "_agent" in t}
    plan = validate_plan({"run": run, "agents": agents, "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


# --- 5a: hooks and config of the shared git directory ---------------------------------------

PLANT_HOOK = """
hook = common_dir() / "hooks" / "post-commit"
hook.parent.mkdir(exist_ok=True)
hook.write_text("#!/bin/sh\\necho \\"$LAUNCHER_TEST_SECRET\\" > {marker}\\n")
hook.chmod(0o755)
pathlib.Path("work.txt").write_text("work\\n")
"""


def test_an_agent_planted_hook_never_runs_is_removed_and_fails_the_task(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAUNCHER_TEST_SECRET", "hunter2")
    marker = tmp_path / "leaked.txt"
    hooks_before = sorted(p.name for p in (repo / ".git" / "hooks").iterdir())
    report = run_commands(repo, [command_task("hooker", PLANT_HOOK.format(marker=marker))])
    hooker = task(report, "hooker")
    assert hooker.state == "failed"
    assert "shared git directory" in hooker.message and "hooks/post-commit added" in hooker.message
    assert not marker.exists()  # the launcher's git never ran it
    assert sorted(p.name for p in (repo / ".git" / "hooks").iterdir()) == hooks_before
    assert git(repo, "log", "--oneline", "main").count("\n") == 1  # nothing landed


SET_HOOKS_PATH = """
hooks = pathlib.Path({hooks!r})
hooks.mkdir(exist_ok=True)
(hooks / "post-commit").write_text("#!/bin/sh\\necho \\"$LAUNCHER_TEST_SECRET\\" > {marker}\\n")
(hooks / "post-commit").chmod(0o755)
subprocess.run(["git", "config", "core.hooksPath", str(hooks)], check=True)
pathlib.Path("work.txt").write_text("work\\n")
"""


def test_an_agent_setting_core_hooks_path_is_undone_and_fails_the_task(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAUNCHER_TEST_SECRET", "hunter2")
    marker = tmp_path / "leaked.txt"
    config_before = (repo / ".git" / "config").read_bytes()
    code = SET_HOOKS_PATH.format(hooks=str(tmp_path / "evil-hooks"), marker=marker)
    report = run_commands(repo, [command_task("configurer", code)])
    configurer = task(report, "configurer")
    assert configurer.state == "failed" and "config changed" in configurer.message
    assert not marker.exists()
    assert (repo / ".git" / "config").read_bytes() == config_before
    git(repo, "commit", "-q", "--allow-empty", "-m", "the user's next commit")
    assert not marker.exists()  # nothing of the agent's stays in the user's repository


def test_the_launcher_s_own_git_runs_no_hook_even_one_already_there(
    repo: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran.txt"
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text(f"#!/bin/sh\necho ran > {marker}\n")
    hook.chmod(0o755)
    report = run_plan(repo, [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}])
    assert task(report, "a").state == "merged"
    assert not marker.exists()
