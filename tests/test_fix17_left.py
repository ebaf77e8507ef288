"""Last session's left-alone list, fixed.

- A main-checkout file the integration check writes or deletes is put back as it was right
  before that run of the check, never as the older copy the run's start kept: a save the user
  made since is not lost, and "put back" is true.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import git
from editable_project import launcher_in

TASK = '[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "x"\nscript = [{ write = "f1.txt", content = "1\\n" }]\n'


def _env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir(exist_ok=True)
    drop = ("PYTHONPATH", "VIRTUAL_ENV")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "HOME": str(tmp_path / "home")}


def _notes(repo: Path, env: dict[str, str]) -> str:
    report = json.loads(launcher_in(repo, env, "status", "--json").stdout)
    return "\n".join(n.get("message", "") for n in report.get("notes", []))


def _repo_with_check(tmp_path: Path, script: str) -> Path:
    """A repository whose integration check is `script` (sh; $n: which run of the check it is)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    check = tmp_path / "check.sh"
    check.write_text(f"#!/bin/sh\nn=$(cat {tmp_path}/count 2>/dev/null || echo 0); n=$((n+1)); "
                     f"echo $n > {tmp_path}/count\n{script}\nexit 0\n")
    check.chmod(0o755)
    (repo / "notes.txt").write_text("committed\n")
    (repo / ".gitignore").write_text(".launcher/\n")
    (repo / "plan.toml").write_text(f'[run]\nintegration_check = "{check}"\n' + TASK)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    (repo / "notes.txt").write_text("committed\nMY UNCOMMITTED WORK\n")  # dirty at the run's start
    return repo


def _between_copies(repo: Path) -> list[str]:
    return [p.read_text() for p in (repo / ".launcher").rglob("integration-check/notes.txt.between-runs*")]


def test_a_file_the_check_deletes_on_its_run_again_keeps_what_it_held_between_the_runs(tmp_path: Path) -> None:
    # The check's first run changes notes.txt (the user saving it meanwhile, or the check: cannot
    # tell); its run again on the same tree deletes it. What is put back is what it held right
    # before the check ran; what it held between the runs is kept, and the note says where.
    repo = _repo_with_check(tmp_path, f'[ $n = 1 ] && printf "MY NEWER SAVE\\n" > {tmp_path}/repo/notes.txt\n'
                                      f'[ $n = 2 ] && rm -f {tmp_path}/repo/notes.txt')
    env = _env(tmp_path)

    launcher_in(repo, env, "run", "plan.toml", "--quiet")

    assert (repo / "notes.txt").read_text() == "committed\nMY UNCOMMITTED WORK\n"
    assert _between_copies(repo) == ["MY NEWER SAVE\n"]
    notes = _notes(repo, env)
    assert "notes.txt (put back; what it held between the check's first run and its run again" in notes
    assert "notes.txt.between-runs)" in notes


def test_a_file_the_check_overwrites_on_its_run_again_keeps_each_version(tmp_path: Path) -> None:
    repo = _repo_with_check(tmp_path, f'[ $n = 1 ] && printf "MY NEWER SAVE\\n" > {tmp_path}/repo/notes.txt\n'
                                      f'[ $n = 2 ] && printf "CHECK OUTPUT\\n" > {tmp_path}/repo/notes.txt')
    env = _env(tmp_path)

    launcher_in(repo, env, "run", "plan.toml", "--quiet")

    assert (repo / "notes.txt").read_text() == "committed\nMY UNCOMMITTED WORK\n"
    assert _between_copies(repo) == ["MY NEWER SAVE\n"]
    checks = [p.read_text() for p in (repo / ".launcher").rglob("integration-check/notes.txt")]
    assert checks == ["CHECK OUTPUT\n"]
