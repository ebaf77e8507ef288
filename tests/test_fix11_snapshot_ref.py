"""The copy of the user's uncommitted files a command takes when it starts guarding the main
checkout (`refs/launcher/_main-snapshot/<pid>-<start>/<tree>`) goes when that command ends,
whichever command took it (`run`, `grade`, `land RUN`, `land --from DIR`) and however it ends
(done, or stopped with Ctrl-C): once the command has ended, the repository holds no ref to the
user's private files (a `git push --mirror` would publish them)."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from helpers import git, launcher_cli, start_launcher, wait_for_file

SNAPSHOT_REFS = "refs/launcher/_main-snapshot/"
NOTES = "my private notes\n"


def _plan(tmp_path: Path) -> Path:
    plan = {"run": {"grader": "scripted-grader"}, "task": [
        {"id": "t1", "script": [{"write": "a.txt", "content": "a\n"}, {"contract": {"files_changed": ["a.txt"]}}]},
        {"id": "t2", "script": [{"write": "b.txt", "content": "b\n"}, {"contract": {"files_changed": ["b.txt"]}}]},
    ]}  # fmt: skip
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _no_copy_left(repo: Path, after: str) -> None:
    assert git(repo, "for-each-ref", SNAPSHOT_REFS) == "", f"a snapshot ref outlived `{after}`"
    assert (repo / "notes.txt").read_text() == NOTES


def test_grade_and_land_of_a_run_leave_no_copy_of_the_user_s_files(repo: Path, tmp_path: Path) -> None:
    (repo / "notes.txt").write_text(NOTES)  # the user's untracked file
    ran = launcher_cli(repo, "run", str(_plan(tmp_path)), "--no-merge", "--json", "--quiet")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    _no_copy_left(repo, "run")

    graded = launcher_cli(repo, "grade", run_id, "t2", "--quiet")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    _no_copy_left(repo, "grade")

    landed = launcher_cli(repo, "land", run_id, "--quiet")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert git(repo, "show", "main:a.txt") == "a\n" and git(repo, "show", "main:b.txt") == "b\n"
    _no_copy_left(repo, "land")


def test_land_from_an_export_leaves_no_copy_of_the_user_s_files(repo: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    ran = launcher_cli(repo, "run", str(_plan(tmp_path)), "--shard", "1/1", "--no-merge", "--export", str(export),
                       "--quiet")  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (repo / "notes.txt").write_text(NOTES)

    landed = launcher_cli(repo, "land", "--from", str(export), "--quiet")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert git(repo, "show", "main:a.txt") == "a\n"
    _no_copy_left(repo, "land --from")


AGENT = """
import pathlib, sys, time
pathlib.Path("w.txt").write_text("w\\n")
pathlib.Path(sys.argv[1]).write_text("started")
time.sleep(120)
"""


def test_a_run_stopped_with_ctrl_c_leaves_no_copy_of_the_user_s_files(repo: Path, tmp_path: Path) -> None:
    started = tmp_path / "agent-started"
    command = json.dumps([sys.executable, "-c", AGENT, str(started)])
    (repo / "launcher.toml").write_text(f'default_agent = "bot"\n[agents.bot]\nadapter = "command"\n'
                                        f"command = {command}\n")  # fmt: skip
    git(repo, "add", "launcher.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "agent")
    (repo / "notes.txt").write_text(NOTES)

    proc = start_launcher(repo, "run", "--task", "write w", "--quiet")
    try:
        wait_for_file(started, proc)
        assert git(repo, "for-each-ref", SNAPSHOT_REFS) != ""  # held while the run goes on
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in its terminal
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    _no_copy_left(repo, "run (stopped)")
