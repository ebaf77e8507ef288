"""A FIFO, a socket or an empty directory an agent makes in the main checkout (git lists none of
them) is an intrusion like a file: the task fails naming it, a special file is moved into the
task's intrusions/ without being opened, an empty directory is removed. What was there before the
run is left alone."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from helpers import git, launcher_cli

MAIN = '"$(git rev-parse --git-common-dir)/.."'


def _plan(repo: Path, script: str) -> None:
    (repo / "plan.toml").write_text(
        '[agents.sh]\nadapter = "command"\ncommand = ["sh", "-c", ' + json.dumps(script) + ', "{prompt}"]\n'
        '[[task]]\nid = "t"\nagent = "sh"\nprompt = "x"\n'
    )
    git(repo, "add", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")


def test_a_fifo_and_an_empty_directory_made_in_the_main_checkout_are_put_back(repo: Path) -> None:
    _plan(repo, f"echo d > d.txt; mkfifo {MAIN}/evil.fifo; mkdir -p {MAIN}/made/empty")
    done = launcher_cli(repo, "run", "plan.toml", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    (task,) = json.loads(done.stdout)["tasks"]
    assert task["state"] == "failed" and not task["merged"]
    assert "the agent wrote into the main checkout" in task["message"]
    assert "evil.fifo (a new FIFO, moved to" in task["message"]
    assert "made (a new empty directory, removed)" in task["message"]
    assert not os.path.lexists(repo / "evil.fifo") and not (repo / "made").exists()
    (aside,) = (repo / ".launcher" / "runs").glob("*/t/intrusions/evil.fifo")
    assert stat.S_ISFIFO(aside.lstat().st_mode)


def test_a_fifo_and_an_empty_directory_there_before_the_run_are_left_alone(repo: Path) -> None:
    os.mkfifo(repo / "mine.fifo")
    (repo / "mine" / "empty").mkdir(parents=True)
    _plan(repo, "echo d > d.txt")
    done = launcher_cli(repo, "run", "plan.toml", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    (task,) = json.loads(done.stdout)["tasks"]
    assert task["state"] == "merged"
    assert stat.S_ISFIFO((repo / "mine.fifo").lstat().st_mode) and (repo / "mine" / "empty").is_dir()
