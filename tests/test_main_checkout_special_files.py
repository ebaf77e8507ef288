"""A FIFO, a socket or an empty directory an agent makes in the main checkout (git lists none of
them) is an intrusion like a file: the task fails naming it, a special file is moved into the
task's intrusions/ without being opened, an empty directory is removed. What was there before the
run is left alone."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import commit_shell_plan, git, launcher_cli

MAIN = '"$(git rev-parse --git-common-dir)/.."'



def test_a_fifo_and_an_empty_directory_made_in_the_main_checkout_are_put_back(repo: Path) -> None:
    commit_shell_plan(repo, f"echo d > d.txt; mkfifo {MAIN}/evil.fifo; mkdir -p {MAIN}/made/empty")
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
    commit_shell_plan(repo, "echo d > d.txt")
    done = launcher_cli(repo, "run", "plan.toml", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    (task,) = json.loads(done.stdout)["tasks"]
    assert task["state"] == "merged"
    assert stat.S_ISFIFO((repo / "mine.fifo").lstat().st_mode) and (repo / "mine" / "empty").is_dir()


def test_special_files_and_empty_directories_git_ignores_are_not_looked_for(repo: Path) -> None:
    # README: new ignored files are not looked for (a dev server's socket, a build's out/)
    (repo / ".gitignore").write_text("*.sock\nout/\nbuild/\n")
    git(repo, "add", ".gitignore")
    commit_shell_plan(repo, f"echo d > d.txt; mkdir -p {MAIN}/out {MAIN}/build/cache/empty; "
                f"for f in app.sock build/pipe; do test -p {MAIN}/$f || mkfifo {MAIN}/$f; done")
    done = launcher_cli(repo, "run", "plan.toml", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    (task,) = json.loads(done.stdout)["tasks"]
    assert task["state"] == "merged", task["message"]
    assert stat.S_ISFIFO((repo / "app.sock").lstat().st_mode) and (repo / "out").is_dir()
    assert (repo / "build" / "cache" / "empty").is_dir() and stat.S_ISFIFO((repo / "build" / "pipe").lstat().st_mode)


def test_a_socket_a_process_still_listens_on_is_never_moved(repo: Path, tmp_path: Path) -> None:
    # a server started in the main checkout while the agent runs: not ignored, so it is reported
    # (who made it cannot be told), but moving it would cut its clients off: it stays in place.
    # The server binds once the agent has started and the agent ends once it is bound: no race
    # with the launcher's start (a fixed 2 s lost it on a loaded machine: the socket came first)
    started = tmp_path / "agent-started"
    commit_shell_plan(repo, f"echo d > d.txt; touch '{started}'; i=0; "
                            f"while [ ! -S {MAIN}/app.sock ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done")
    serve = ("import os, socket, time\n"
             f"while not os.path.exists({str(started)!r}):\n    time.sleep(0.05)\n"
             "s = socket.socket(socket.AF_UNIX)\ns.bind('app.sock')\ns.listen()\ntime.sleep(60)\n")
    server = subprocess.Popen([sys.executable, "-c", serve], cwd=repo)
    try:
        done = launcher_cli(repo, "run", "plan.toml", "--json")
        (task,) = json.loads(done.stdout)["tasks"]
        assert "app.sock (a new socket a running process listens on, left in place" in task["message"]
        assert stat.S_ISSOCK((repo / "app.sock").lstat().st_mode)
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(repo / "app.sock"))  # the server still answers at its path
    finally:
        server.kill()
        server.wait()


@pytest.mark.slow
def test_a_main_checkout_too_big_to_watch_whole_is_said_so(repo: Path) -> None:
    # past odd_entries.MAX_DIRS directories the walk stops: the run must not claim a full watch
    for index in range(50_001):
        (repo / "big" / f"d{index:05d}").mkdir(parents=True)
    commit_shell_plan(repo, "echo d > d.txt")
    done = launcher_cli(repo, "run", "plan.toml", "--quiet", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the main checkout has more than 50,000 directories: special files" in done.stdout
    notes = done.stdout.partition("Notes:")[2]
    assert notes.count("more than 50,000 directories") == 1  # once for the run, not per check
