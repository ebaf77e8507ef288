"""Paths an agent can reach that the launcher uses again (its `$LAUNCHER_CONTRACT`, a CLI's
session and answer files, the import audit of a check): whatever the agent left there, a
directory included, is removed before the path is used; it never crashes the run, and a run
stopped with such a leftover resumes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import git, launcher_cli

from launcher.agents.base import AgentOutcome, AgentRequest
from launcher.agents.cli_common import remember_session, resume_session
from launcher.models.config import AgentConfig
from launcher.models.plan import Task
from launcher.regular_files import clear_path

DIR_AT_CONTRACT = (
    '[agents.dirbot]\nadapter = "command"\n'
    'command = ["sh", "-c", "echo y > y.txt; mkdir -p \\"$LAUNCHER_CONTRACT/deep/er\\"; '
    'chmod 0 \\"$LAUNCHER_CONTRACT/deep\\"", "{prompt}"]\n'
    '[[task]]\nid = "dir-contract"\nagent = "dirbot"\nprompt = "x"\n'
    '[[task]]\nid = "fine"\nagent = "scripted"\nprompt = "x"\n'
    'script = [{write = "fine.txt", content = "ok"}]\n'
)

# The task's artifacts (`.launcher/runs/<run>/<task>/`), as its agent can find them: in the
# repository's state, no longer the directory of its `$LAUNCHER_CONTRACT` (a private one). A
# shell snippet inside a TOML string: `d` names the directory.
ARTIFACTS_SH = ('d=\\"$(git rev-parse --path-format=absolute --git-common-dir)/../.launcher/runs/'
                '$LAUNCHER_RUN_ID/$LAUNCHER_TASK_ID\\"; ')


def _commit_plan(repo: Path, text: str) -> None:
    (repo / "plan.toml").write_text(text)
    git(repo, "add", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")


def test_a_directory_at_the_contract_path_is_removed_and_the_run_goes_on(repo: Path) -> None:
    _commit_plan(repo, DIR_AT_CONTRACT)
    done = launcher_cli(repo, "run", "plan.toml", "--json")
    assert done.returncode in (0, 1), done.stderr  # never 70, an internal error
    assert "internal error" not in done.stderr
    states = {t["id"]: t for t in json.loads(done.stdout)["tasks"]}
    assert states["fine"]["state"] == "merged"
    # Its corrective round ran (the directory was cleared for it); its work lands on a contract
    # derived from git, as for any agent that never wrote one.
    assert states["dir-contract"]["state"] == "merged", states["dir-contract"]["message"]
    assert states["dir-contract"]["contract"]["source"] == "derived"
    assert (repo / "y.txt").read_text() == "y\n"


def test_a_run_killed_with_a_directory_at_the_contract_path_resumes(repo: Path, tmp_path: Path) -> None:
    trap = tmp_path / "trap-sprung"
    # First round: a directory where the contract goes, then the launcher dies (SIGKILL) mid-round.
    # The resumed round runs the agent again in its worktree; this time it writes its file.
    agent = (f'if [ ! -e {trap} ]; then touch {trap}; mkdir -p "$LAUNCHER_CONTRACT/sub"; kill -9 $PPID; exit 0; fi; '
             'echo y > y.txt')
    _commit_plan(repo, '[agents.dies]\nadapter = "command"\n'
                       f'command = ["sh", "-c", {json.dumps(agent)}, "{{prompt}}"]\n'
                       '[[task]]\nid = "t"\nagent = "dies"\nprompt = "x"\n')
    killed = subprocess.run([sys.executable, "-m", "launcher", "run", "plan.toml", "-q"], cwd=repo,
                            env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
                            capture_output=True, text=True, timeout=120, start_new_session=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    again = launcher_cli(repo, "resume", "--json")
    assert "internal error" not in again.stderr
    assert again.returncode == 0, again.stderr
    (only,) = json.loads(again.stdout)["tasks"]
    assert only["state"] == "merged" and (repo / "y.txt").read_text() == "y\n"


def test_clearing_a_path_removes_any_kind_of_leftover_and_never_follows_a_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "file").write_text("kept")
    leftovers = tmp_path / "artifacts"
    leftovers.mkdir()
    tree = leftovers / "tree"
    (tree / "locked" / "inner").mkdir(parents=True)
    (tree / "locked" / "inner" / "f").write_text("x")
    os.chmod(tree / "locked", 0)
    link = leftovers / "link"
    link.symlink_to(outside / "keep", target_is_directory=True)
    fifo = leftovers / "fifo"
    os.mkfifo(fifo)
    plain = leftovers / "plain"
    plain.write_text("old answer")
    for path in (tree, link, fifo, plain, leftovers / "never-there"):
        clear_path(path)
        assert not os.path.lexists(path)
    assert (outside / "keep" / "file").read_text() == "kept"  # the link's target is untouched
    assert stat.S_ISDIR(os.lstat(outside / "keep").st_mode)


def test_a_directory_where_a_session_is_remembered_is_replaced_by_the_session(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    (artifacts / "claude.session" / "sub").mkdir(parents=True)
    request = AgentRequest(
        run_id="r", task=Task(id="t", prompt="p"), agent_name="claude", config=AgentConfig(adapter="claude"),
        worktree=tmp_path, artifacts=artifacts, base_sha="0" * 40, iteration=1,
        contract_path=artifacts / "contract.agent.json", feedback_path=artifacts / "feedback.md", port_base=0,
    )
    session = "0f3c2a1e-8a6b-4a1e-9d3b-2f6c1a7e9b10"
    remember_session(request, "claude", AgentOutcome(True, session_id=session))
    assert resume_session(request, "claude") == session
    (artifacts / "claude.session").unlink()
    (artifacts / "claude.session" / "sub").mkdir(parents=True)
    remember_session(request, "claude", AgentOutcome(False, "timeout"))  # forgets it: removed
    assert not (artifacts / "claude.session").exists()


def test_a_directory_or_a_fifo_in_place_of_the_agent_log_is_removed_and_the_run_goes_on(repo: Path) -> None:
    # A FIFO there blocked the launcher in open() for ever (every task with it); a directory
    # crashed the round. Both are the agent's leftovers in the task's artifacts: removed.
    _commit_plan(repo, '[agents.logdir]\nadapter = "command"\n'
                       'command = ["sh", "-c", "echo y > y.txt; ' + ARTIFACTS_SH +
                       'rm -f \\"$d/agent.log\\"; mkdir \\"$d/agent.log\\"", "{prompt}"]\n'
                       '[agents.logfifo]\nadapter = "command"\n'
                       'command = ["sh", "-c", "echo z > z.txt; ' + ARTIFACTS_SH +
                       'rm -f \\"$d/agent.log\\"; mkfifo \\"$d/agent.log\\"", "{prompt}"]\n'
                       '[[task]]\nid = "log-dir"\nagent = "logdir"\nprompt = "x"\n'
                       '[[task]]\nid = "log-fifo"\nagent = "logfifo"\nprompt = "x"\n'
                       '[[task]]\nid = "fine"\nagent = "scripted"\nprompt = "x"\n'
                       'script = [{write = "fine.txt", content = "ok"}]\n')
    done = launcher_cli(repo, "run", "plan.toml", "--json", timeout=240)
    assert "internal error" not in done.stderr
    states = {t["id"]: t for t in json.loads(done.stdout)["tasks"]}
    assert {t: s["state"] for t, s in states.items()} == {"fine": "merged", "log-dir": "merged", "log-fifo": "merged"}
    assert done.returncode == 0, done.stderr


def test_what_an_agent_leaves_at_the_launcher_s_own_artifact_paths_never_crashes_the_run(repo: Path) -> None:
    # The agent can write in its task's artifacts (in the repository's .launcher/): directories at
    # facts.json, diff.patch and rounds/1.json, and a file where rounds/ goes, crashed the run.
    _commit_plan(repo, '[agents.litter]\nadapter = "command"\n'
                       'command = ["sh", "-c", "echo a > a.txt; ' + ARTIFACTS_SH +
                       'mkdir -p \\"$d/facts.json/x\\" \\"$d/diff.patch/y\\"; echo no > \\"$d/rounds\\"", "{prompt}"]\n'
                       '[[task]]\nid = "litter"\nagent = "litter"\nprompt = "x"\n')
    done = launcher_cli(repo, "run", "plan.toml", "--json")
    assert "internal error" not in done.stderr, done.stderr
    (task,) = json.loads(done.stdout)["tasks"]
    assert task["state"] == "merged", task["message"]
    artifacts = repo / ".launcher" / "runs" / json.loads(done.stdout)["run_id"] / "litter"
    assert json.loads((artifacts / "facts.json").read_text())["head_sha"]
    assert (artifacts / "diff.patch").read_text().startswith("diff --git a/a.txt")


def test_leftovers_are_cleared_only_inside_a_state_directory(tmp_path: Path) -> None:
    from launcher.store.files import atomic_write_text
    mine = tmp_path / "out.json"
    mine.mkdir()  # the user's own directory, where a path they named points: never removed
    with pytest.raises(IsADirectoryError):
        atomic_write_text(mine, "x")
    assert mine.is_dir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    state = tmp_path / ".launcher" / "runs"
    state.mkdir(parents=True)
    (state / "r1").symlink_to(outside)  # a link in the state dir is replaced, never followed
    atomic_write_text(state / "r1" / "facts.json", "{}")
    assert not (outside / "facts.json").exists() and (state / "r1" / "facts.json").read_text() == "{}"
