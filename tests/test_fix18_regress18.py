"""Regressions and holes in the twelfth session's fixes (review18, regress18).

- Overlapping rounds: a file one task's agent overwrites in the main checkout is put back as the
  latest copy taken before that write (another task's round start), never as an older copy of the
  task whose round ended first: the user's save made between the two rounds' starts is kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import git
from editable_project import launcher_in


def _env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(tmp_path / "home")}  # (PYTHONPATH kept: the launcher under test)


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _notes(repo: Path, env: dict[str, str]) -> str:
    report = json.loads(launcher_in(repo, env, "status", "--json").stdout)
    return "\n".join(n.get("message", "") for n in report.get("notes", []))


def test_a_save_made_between_two_overlapping_rounds_starts_survives_the_put_back_of_the_first_to_end(
        tmp_path: Path) -> None:
    # t1's round starts; the user saves todo.txt (t2's setup stands for it); t2's round starts and
    # its agent overwrites todo.txt (once: not in its corrective round), still running when t1's
    # round ends and is checked first.
    repo = tmp_path / "repo"
    repo.mkdir()
    agent = _script(tmp_path / "agent.sh",
                    f'if [ "$1" = t1 ]; then sleep 3; elif [ ! -e {tmp_path}/wrote ]; then\n'
                    f'  printf "AGENT2\\n" > {repo}/todo.txt; touch {tmp_path}/wrote; sleep 6\nfi\n'
                    'printf "work\\n" > "$1.txt"')
    setup = _script(tmp_path / "setup.sh", f"sleep 0.5; printf 'MY SAVE\\n' > {repo}/todo.txt; sleep 1.5")
    (repo / "todo.txt").write_text("todo committed\n")
    (repo / ".gitignore").write_text(".launcher/\n")
    (repo / "plan.toml").write_text(
        f'[run]\nmax_parallel = 2\n[agents.a]\nadapter = "command"\ncommand = ["{agent}", "{{task_id}}"]\n'
        '[[task]]\nid = "t1"\nagent = "a"\nprompt = "x"\n'
        f'[[task]]\nid = "t2"\nagent = "a"\nprompt = "x"\nsetup = "{setup}"\n')
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    env = _env(tmp_path)

    launcher_in(repo, env, "run", "plan.toml", "--quiet")

    notes = _notes(repo, env)
    assert "todo.txt was written into the main checkout while the code of tasks t1, t2 ran" in notes
    assert (repo / "todo.txt").read_text() == "MY SAVE\n"  # not the run-start copy over the save
    kept = [p.read_text() for p in (repo / ".launcher").rglob("intrusions/todo.txt*") if p.is_file()]
    assert kept == ["AGENT2\n"]
    assert "todo.txt (put back as it was at the start of task t2's round; the agent's version moved to" in notes
