"""A workflow phase recorded by an older launcher (no task commits in its state) is judged by its
tasks' landed commits looked up in its run's journal, not by its whole start..landed change: that
change also holds whatever else reached the target while the phase ran (the user's own commit),
and dropping that commit later made the phase look lost (the workflow paused)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from conftest import git, write_files
from helpers import launcher_cli

from launcher.app.workflow import integrity
from launcher.git.repo import GitRepo
from launcher.models.workflow import WorkflowState

ONE = """name = "one"
[[phase]]
id = "build"
artifacts = ["build/files.json"]
[[phase.primary]]
role = "a"
prompt = "build"
"""


def _lost(repo: Path, state: WorkflowState) -> list[str]:
    async def check() -> list[str]:
        return [lost.row.id for lost in await integrity.lost_work(await GitRepo.discover(repo), state)]
    return anyio.run(check)


def test_an_older_state_phase_is_held_when_the_user_drops_a_commit_of_their_own(repo: Path) -> None:
    write_files(repo, {"workflows/one.toml": ONE, "launcher.toml": '[roles]\ndefault = "scripted"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "workflows")
    write_files(repo, {"u.txt": "mine\n"})
    git(repo, "add", "u.txt")
    git(repo, "commit", "-q", "-m", "the user's own commit")
    mine = git(repo, "rev-parse", "HEAD").strip()
    scripts = repo.parent / "scripts.json"
    scripts.write_text(json.dumps({"build-a": [{"write": "a.txt", "content": "1\n"}]}))
    started = launcher_cli(repo, "workflow", "start", "one", "--scripts", str(scripts), "--json", "--quiet")
    assert started.returncode == 0, started.stderr
    wid = json.loads(started.stdout)["id"]
    state_file = repo / ".launcher" / "workflows" / wid / "state.json"
    data: dict[str, Any] = json.loads(state_file.read_text())
    phase = data["phases"][0]
    assert phase["status"] == "succeeded" and phase["tasks"][0]["merged"]
    # As an older launcher recorded it: no task commits, and the user's commit inside its range
    # (made while the phase ran).
    for task in phase["tasks"]:
        task.pop("commit", None)
    phase["start_sha"] = git(repo, "rev-parse", f"{mine}^").strip()
    state_file.write_text(json.dumps(data))
    state = WorkflowState.model_validate(data)

    git(repo, "rebase", "-q", "--onto", f"{mine}^", mine, "main")  # the user drops their own commit
    assert not (repo / "u.txt").exists() and (repo / "a.txt").read_text() == "1\n"

    assert _lost(repo, state) == []
    done = launcher_cli(repo, "workflow", "status", wid, "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["status"] != "paused", done.stdout


def test_an_older_state_phase_whose_work_really_left_is_still_lost(repo: Path) -> None:
    write_files(repo, {"workflows/one.toml": ONE, "launcher.toml": '[roles]\ndefault = "scripted"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "workflows")
    before = git(repo, "rev-parse", "HEAD").strip()
    scripts = repo.parent / "scripts.json"
    scripts.write_text(json.dumps({"build-a": [{"write": "a.txt", "content": "1\n"}]}))
    started = launcher_cli(repo, "workflow", "start", "one", "--scripts", str(scripts), "--json", "--quiet")
    wid = json.loads(started.stdout)["id"]
    data: dict[str, Any] = json.loads((repo / ".launcher" / "workflows" / wid / "state.json").read_text())
    for task in data["phases"][0]["tasks"]:
        task.pop("commit", None)
    git(repo, "reset", "-q", "--hard", before)  # the phase's work leaves main
    assert _lost(repo, WorkflowState.model_validate(data)) == ["build"]
