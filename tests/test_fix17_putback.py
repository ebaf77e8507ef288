"""Put-backs never overwrite a newer save of the user's with an older copy.

- An agent that writes into the main checkout gets each file put back as it was when its round
  started (what the user saved since the run's start included), never as the run's start copy;
  what the round's start copy cannot tell apart (the user's save and the agent's write, both
  during the round) is all kept, and a note says where.
- A file the integration check took as the user's edit is watched again: a later run of the check
  that deletes or overwrites it is found and the file put back as the user left it.

The user's save is made at a known moment by a script: the task's setup command (it runs between
the run's start and the agent's round, and is the user's own command), or a run of the check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import git
from editable_project import launcher_in


def _env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir(exist_ok=True)
    drop = ("PYTHONPATH", "VIRTUAL_ENV")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "HOME": str(tmp_path / "home")}


def _status(repo: Path, env: dict[str, str]) -> tuple[str, dict[str, dict[str, str]]]:
    report = json.loads(launcher_in(repo, env, "status", "--json").stdout)
    notes = "\n".join(n.get("message", "") for n in report.get("notes", []))
    return notes, {t["id"]: t for t in report.get("tasks", [])}


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _repo(tmp_path: Path, plan: str) -> Path:
    """A repository with notes.txt and todo.txt committed, `.env` ignored, and `plan` as plan.toml;
    notes.txt then edited (dirty when the run starts), `.env` there (ignored)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "notes.txt").write_text("committed\n")
    (repo / "todo.txt").write_text("todo committed\n")
    (repo / ".gitignore").write_text(".launcher/\n.env\n")
    (repo / "plan.toml").write_text(plan)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    (repo / "notes.txt").write_text("committed\nMY UNCOMMITTED WORK\n")
    (repo / ".env").write_text("TOKEN=at-start\n")
    return repo


def _round_plan(tmp_path: Path, agent_body: str, setup: str) -> str:
    agent = _script(tmp_path / "agent.sh", agent_body)
    setup_script = _script(tmp_path / "setup.sh", setup)
    return (f'[agents.a]\nadapter = "command"\ncommand = ["{agent}"]\n'
            f'[[task]]\nid = "t1"\nagent = "a"\nprompt = "x"\nsetup = "{setup_script}"\n')


def _intrusion_copies(repo: Path, name: str) -> list[str]:
    return sorted(p.read_text() for p in (repo / ".launcher").rglob(f"t1/intrusions/{name}*") if p.is_file())


def test_an_agent_overwriting_files_the_user_saved_before_its_round_gets_those_saves_back(tmp_path: Path) -> None:
    # Between the run's start and the round, the user saves a dirty file, a clean tracked one, an
    # ignored one and a new one; the agent then overwrites all four in the main checkout.
    repo_path = tmp_path / "repo"
    saves = {"notes.txt": "MY NEWER SAVE\n", "todo.txt": "MY TODO SAVE\n", ".env": "TOKEN=my-new-one\n",
             "draft.txt": "MY NEW DRAFT\n"}
    setup = "".join(f"printf '{text.strip()}\\n' > {repo_path}/{rel}\n" for rel, text in saves.items()) + "sleep 2"
    agent = "".join(f"printf 'AGENT\\n' > {repo_path}/{rel}\n" for rel in saves) + "printf 'work\\n' > f1.txt"
    repo = _repo(tmp_path, _round_plan(tmp_path, agent, setup))
    env = _env(tmp_path)

    launcher_in(repo, env, "run", "plan.toml", "--quiet")

    notes, tasks = _status(repo, env)
    for rel, text in saves.items():  # as the user left them when the round started
        assert (repo / rel).read_text() == text, rel
        assert _intrusion_copies(repo, rel) == ["AGENT\n"], rel  # the agent's version kept aside
    assert tasks["t1"]["state"] == "failed"
    assert "notes.txt (put back as it was at the round's start; the agent's version moved to" in tasks["t1"]["message"]
    assert "put back as they were at the round's start" in notes


def test_a_file_the_user_deleted_before_the_round_is_neither_brought_back_nor_blamed(tmp_path: Path) -> None:
    # notes.txt was dirty at the run's start; the user deletes it before the round; the agent
    # never touches it: the round changed nothing there.
    repo_path = tmp_path / "repo"
    repo = _repo(tmp_path, _round_plan(tmp_path, "printf 'work\\n' > f1.txt", f"rm {repo_path}/notes.txt\nsleep 2"))
    env = _env(tmp_path)

    launcher_in(repo, env, "run", "plan.toml", "--quiet")

    _, tasks = _status(repo, env)
    assert not (repo / "notes.txt").exists()
    assert "main checkout" not in tasks["t1"]["message"]
    assert tasks["t1"]["state"] in ("done", "merged", "approved", "landed"), tasks["t1"]


def test_a_save_and_a_write_both_during_the_round_are_both_kept_and_the_note_says_where(tmp_path: Path) -> None:
    # During the round, "the user" saves notes.txt (simulated from the agent's command), then the
    # agent appends to it: the round's start version is put back, the round's end version (the
    # save and the write) is kept aside, and a note says that it may hold the user's save.
    repo_path = tmp_path / "repo"
    agent = (f"printf 'MY SAVE DURING THE ROUND\\n' > {repo_path}/notes.txt\nsleep 1\n"
             f"printf 'AGENT LINE\\n' >> {repo_path}/notes.txt\nprintf 'work\\n' > f1.txt")
    setup = f"printf 'MY NEWER SAVE\\n' > {repo_path}/notes.txt\nsleep 2"
    repo = _repo(tmp_path, _round_plan(tmp_path, agent, setup))
    env = _env(tmp_path)

    launcher_in(repo, env, "run", "plan.toml", "--quiet")

    notes, _ = _status(repo, env)
    assert (repo / "notes.txt").read_text() == "MY NEWER SAVE\n"
    assert _intrusion_copies(repo, "notes.txt") == ["MY SAVE DURING THE ROUND\nAGENT LINE\n"]
    assert ("notes.txt put back as it was at the round's start (changed since the run's start, so not the "
            "run-start copy); the version moved aside is what was there after the agent ran: its write, or a "
            "save of yours made meanwhile") in notes


def _landing_repo(tmp_path: Path, check_body: str, agent_body: str = 'printf "work\\n" > "$1.txt"') -> Path:
    """Two tasks landed one batch each, so the integration check runs for each batch; in the
    check's script, $n is which run of it this is."""
    counter = tmp_path / "count"
    check = _script(tmp_path / "check.sh", f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); "
                                           f"echo $n > {counter}\n{check_body}\nexit 0")
    agent = _script(tmp_path / "agent.sh", agent_body)
    return _repo(tmp_path, f'[run]\nintegration_check = "{check}"\nbatch = 1\n'
                           f'[agents.a]\nadapter = "command"\ncommand = ["{agent}", "{{task_id}}"]\n'
                           '[[task]]\nid = "t1"\nagent = "a"\nprompt = "x"\n'
                           '[[task]]\nid = "t2"\nagent = "a"\nprompt = "x"\n')


@pytest.mark.parametrize("later", ["rm -f {repo}/notes.txt", "printf 'CHECK OUTPUT\\n' > {repo}/notes.txt"],
                         ids=["deletes", "overwrites"])
def test_a_later_check_run_that_changes_the_users_edit_is_found_and_the_edit_put_back(tmp_path: Path,
                                                                                     later: str) -> None:
    # Run 1 (batch 1): the user saves notes.txt while the check runs; run 2 (its run again) leaves
    # it: taken for the user's edit. Runs 3 and on (batch 2): the check deletes or overwrites it.
    repo_path = tmp_path / "repo"
    repo = _landing_repo(tmp_path, f"if [ $n = 1 ]; then printf 'MY NEWER SAVE\\n' > {repo_path}/notes.txt; fi\n"
                                   f"if [ $n -ge 3 ]; then {later.format(repo=repo_path)}; fi")
    env = _env(tmp_path)

    launcher_in(repo, env, "run", "plan.toml", "--quiet")

    notes, _ = _status(repo, env)
    assert int((tmp_path / "count").read_text()) >= 4  # the later batch's check and its run again ran
    assert "taken for your edit and left in place" in notes
    assert (repo / "notes.txt").read_text() == "MY NEWER SAVE\n"
