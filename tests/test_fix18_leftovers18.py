"""Defects other reviews found and left open (session 18).

- An agent that only stages a new submodule pointer (`git update-index --cacheinfo
  160000,<commit>,sub`, the submodule still checked out at the recorded commit) has moved the
  pointer: the launcher's `git add -A` of its leftovers no longer puts the pointer back, so the
  task fails as any that moves a submodule pointer does (branch kept), never `skipped: no changes`;
  the message names the commits the pointer went from and to. A resolution round's merge keeps a
  submodule pointer the target moved (and checks the submodule out there): the task neither
  reverts the target's move nor fails for a move it never made.
- `status --json` lists the conflict matrix as it stands while work waits to land: a pair whose
  tasks both landed (a conflict resolved by the agent, then landed) is not shown as a conflict.
- `workflow pause` takes the workflow's claim lock, as `next` and `resume` do from "may it run?"
  to the record of their runner: a pause no longer slips in between, leaving a `next` that
  answered `ok` (the phase runs in process N) with a runner refused at its start. A runner
  recorded before its phase began is a running phase to `pause`: the pause is requested (taken
  when the phase ends), not applied under it.
- A judge's model chosen by a system-wide config file of its CLI (Claude Code's managed settings
  `/etc/claude-code/managed-settings.json`, Gemini CLI's `/etc/gemini-cli/system-defaults.json`
  and `settings.json`, Codex's `/etc/codex/config.toml` and `managed_config.toml`) is part of the
  judge's identity, as the home and project files are.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from helpers import git, launcher_cli, run_plan, start_launcher, task

from launcher import process_identity
from launcher.app.workflow import engine
from launcher.app.workflow.session import CLAIM_LOCK, WorkflowSession
from launcher.gates import judge_model_files
from launcher.gates.judge_identity import judge_identity
from launcher.models.plan import AgentConfig
from launcher.models.states import TaskState
from launcher.models.workflow import WorkflowState, WorkflowStatus
from tests.test_workflows import _scripts, wf_repo  # noqa: F401 (a fixture)

FILE_PROTOCOL = ("-c", "protocol.file.allow=always")


def _repo_with_submodule(tmp_path: Path) -> tuple[Path, list[str]]:
    sub = tmp_path / "sub"
    sub.mkdir()
    git(sub, "init", "-q", "-b", "main")
    commits = []
    for i in range(2):
        (sub / "f").write_text(f"{i}\n")
        git(sub, "add", "-A")
        git(sub, "commit", "-qm", f"s{i}")
        commits.append(git(sub, "rev-parse", "HEAD").strip())
    git(sub, "checkout", "-q", commits[0])
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "x.txt").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, *FILE_PROTOCOL, "submodule", "add", "-q", str(sub), "sub")
    git(repo, "commit", "-qm", "sub")
    return repo, commits


def test_a_submodule_pointer_only_staged_fails_the_task_instead_of_being_dropped(tmp_path: Path) -> None:
    repo, commits = _repo_with_submodule(tmp_path)
    stage = f"git update-index --cacheinfo 160000,{commits[1]},sub"
    report = run_plan(repo, [{"id": "one", "prompt": "x", "script": [{"run": ["sh", "-c", stage]}]}])
    one = task(report, "one")
    assert one.state == TaskState.FAILED, one.message
    # what moved, from which commit to which
    assert f"changed the commit of submodule sub ({commits[0][:12]} -> {commits[1][:12]})" in (one.message or "")
    assert report.status != "succeeded"
    # Nothing landed, the branch with the agent's pointer is kept.
    assert git(repo, "ls-tree", "HEAD", "sub").split()[2] == commits[0]
    assert one.branch and git(repo, "ls-tree", one.branch, "sub").split()[2] == commits[1]
    assert os.path.isdir(repo / "sub")


def test_status_shows_no_conflict_between_two_tasks_that_both_landed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    report = run_plan(repo, [
        {"id": "one", "prompt": "x", "script": [{"run": ["sh", "-c", "echo one > a.txt"]}]},
        {"id": "two", "prompt": "x", "script": [
            {"run": ["sh", "-c", "echo two > a.txt"], "rounds": [1]},
            {"run": ["sh", "-c", "echo one two > a.txt"], "rounds": [2]}]},
    ], on_conflict="agent")
    assert [t.state for t in report.tasks] == ["merged", "merged"], report.tasks
    assert "to resolve conflicts" in git(repo, "log", "--format=%s", "main")  # the pair did conflict
    status = launcher_cli(repo, "status", "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert all(t["merged"] for t in shown["tasks"])
    assert shown["conflicts"] == []
    assert report.conflicts == []


def _folder(repo: Path, wid: str) -> Path:
    async def where() -> Path:
        return (await WorkflowSession.open(repo)).folder(wid)
    return anyio.run(where)


def test_workflow_pause_waits_for_the_claim_a_next_holds(wf_repo: Path) -> None:  # noqa: F811
    wid = anyio.run(engine.create, wf_repo, "mini", {"what": "mul"}, {"scripts": _scripts(wf_repo)}).id
    lock = _folder(wf_repo, wid) / CLAIM_LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a `next` deciding and recording its runner
    try:
        pausing = start_launcher(wf_repo, "workflow", "pause", wid, "--json")
        time.sleep(3)
        assert pausing.poll() is None, pausing.communicate()
        assert anyio.run(engine.status, wf_repo, wid).status is WorkflowStatus.READY
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    out, err = pausing.communicate(timeout=60)
    assert pausing.returncode == 0, err
    assert json.loads(out)["status"] == "paused"


def test_pausing_a_workflow_whose_spawned_runner_has_not_begun_requests_the_pause(wf_repo: Path) -> None:  # noqa: F811
    wid = anyio.run(engine.create, wf_repo, "mini", {"what": "mul"}, {"scripts": _scripts(wf_repo)}).id
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_identity.start_time(runner.pid)

        async def record() -> None:
            session = await WorkflowSession.open(wf_repo)

            def spawned(now: WorkflowState) -> None:
                now.runner_pid, now.runner_started = runner.pid, started
            session.update(wid, spawned)
        anyio.run(record)
        paused = launcher_cli(wf_repo, "workflow", "pause", wid, "--json")
        assert paused.returncode == 0, paused.stderr
        shown = json.loads(paused.stdout)
        assert shown["status"] == "ready" and "pause requested" in shown["message"]
        assert anyio.run(engine.status, wf_repo, wid).pause_requested
    finally:
        runner.kill()
        runner.wait()


def _model_files(adapter: str, home: Path, **more: object) -> dict[str, str]:
    config = AgentConfig.model_validate({"adapter": adapter, **more})
    files: dict[str, str] = judge_identity("j", config, {"HOME": str(home)}, project={})["model_files"]
    return files


def test_system_wide_config_files_of_the_judges_cli_are_part_of_the_judge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, home = tmp_path / "root", tmp_path / "home"
    home.mkdir()
    monkeypatch.setattr(judge_model_files, "SYSTEM_ROOT", system)
    for folder in ("etc/claude-code", "etc/gemini-cli", "etc/codex"):
        (system / folder).mkdir(parents=True)
    managed = system / "etc/claude-code/managed-settings.json"
    managed.write_text('{"model": "opus"}')
    assert list(_model_files("claude", home)) == [f"{managed} model"]
    before = _model_files("claude", home)
    managed.write_text('{"model": "haiku"}')
    assert _model_files("claude", home) != before  # the gate sees the switch
    defaults, overrides = system / "etc/gemini-cli/system-defaults.json", system / "etc/gemini-cli/settings.json"
    defaults.write_text('{"model": {"name": "gemini-2.5-flash"}}')
    overrides.write_text('{"model": {"name": "gemini-2.5-pro"}}')
    assert list(_model_files("gemini", home)) == [f"{defaults} model.name", f"{overrides} model.name"]
    moved = tmp_path / "elsewhere.json"
    moved.write_text('{"model": {"name": "gemini-3"}}')
    assert f"{moved} model.name" in _model_files("gemini", home,
                                                 set_env={"GEMINI_CLI_SYSTEM_SETTINGS_PATH": str(moved)})
    (system / "etc/codex/config.toml").write_text('model = "gpt-5"\n')
    (system / "etc/codex/managed_config.toml").write_text('profile = "deep"\n[profiles.deep]\nmodel = "o3"\n')
    codex = _model_files("codex", home)
    assert f"{system / 'etc/codex/config.toml'} model" in codex
    assert f"{system / 'etc/codex/managed_config.toml'} profile" in codex
    assert _model_files("claude", home, model="sonnet") == {}  # the command line names it: no file decides


def test_a_resolution_round_keeps_the_submodule_pointer_the_target_moved(tmp_path: Path) -> None:
    repo, commits = _repo_with_submodule(tmp_path)
    (repo / "a.txt").write_text("a\n")
    (repo / "plan.toml").write_text(
        '[run]\non_conflict = "agent"\n'
        '[[task]]\nid = "one"\nprompt = "x"\nscript = [{run = ["sh", "-c", "echo one > a.txt"]}]\n'
        '[[task]]\nid = "two"\nprompt = "x"\nscript = [{run = ["sh", "-c", "echo two > a.txt"], rounds = [1]},'
        ' {run = ["sh", "-c", "echo one two > a.txt"], rounds = [2]}]\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "plan")
    ran = launcher_cli(repo, "run", "plan.toml", "--no-merge")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    git(repo / "sub", "checkout", "-q", commits[1])  # the user moves the submodule on main meanwhile
    git(repo, "add", "sub")
    git(repo, "commit", "-qm", "bump sub")
    landed = launcher_cli(repo, "land", "--json")
    shown = json.loads(landed.stdout)
    assert [(t["id"], t["state"]) for t in shown["tasks"]] == [("one", "merged"), ("two", "merged")], shown
    assert git(repo, "ls-tree", "main", "sub").split()[2] == commits[1]  # the user's move stands
    assert git(repo, "show", "main:a.txt") == "one two\n"
