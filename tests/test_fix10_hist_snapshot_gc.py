"""The run-start copy of the user's uncommitted files survives a `git gc --prune=now` made while
the run goes on, so an agent's overwrite of such a file is still put back; the ref keeping it
reachable goes when the run ends, or, when its launcher was killed, at `launcher clean`."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from helpers import git, launcher_cli, start_launcher, task, wait_for_file
from test_safety_contain import command_task, main_tree, run_commands

SNAPSHOT_REFS = "refs/launcher/_main-snapshot/"


def test_an_overwritten_uncommitted_file_is_put_back_even_after_a_gc_prune_during_the_run(repo: Path) -> None:
    (repo / "app.py").write_text("# the user's unsaved work\n")
    # the user's routine maintenance while the agent works, then the agent's overwrite
    code = main_tree('subprocess.run(["git", "-C", str(MAIN), "gc", "--prune=now", "-q"], check=True)\n'
                     '(MAIN / "app.py").write_text("# overwritten\\n")\npathlib.Path("w.txt").write_text("w")')
    report = run_commands(repo, [command_task("gc", code)])
    intruder = task(report, "gc")
    assert intruder.state == "failed" and "app.py (put back" in intruder.message, intruder.message
    assert (repo / "app.py").read_text() == "# the user's unsaved work\n"


AGENT = """
import json, os, pathlib, sys, time
pathlib.Path("w.txt").write_text("w\\n")
if len(sys.argv) > 1:  # the killed-launcher case: say so, then wait to be killed with it
    pathlib.Path(sys.argv[1]).write_text("started")
    time.sleep(120)
pathlib.Path(os.environ["LAUNCHER_CONTRACT"]).write_text(json.dumps({
    "contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
    "summary": "s", "files_changed": ["w.txt"], "tests_added": [], "decisions": [], "blockers": [],
    "llm_observations": "a test agent"}))
"""


def _with_agent(repo: Path, *extra: str) -> None:
    command = json.dumps([sys.executable, "-c", AGENT, *extra])
    (repo / "launcher.toml").write_text(
        f'default_agent = "bot"\n[agents.bot]\nadapter = "command"\ncommand = {command}\n')
    git(repo, "add", "launcher.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "agent")


def test_the_copy_s_ref_goes_when_the_run_ends(repo: Path) -> None:
    _with_agent(repo)
    (repo / "notes.txt").write_text("the user's untracked notes\n")
    ran = launcher_cli(repo, "run", "--task", "write w", "--quiet")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert git(repo, "for-each-ref", SNAPSHOT_REFS) == ""
    assert (repo / "notes.txt").read_text() == "the user's untracked notes\n"


def test_a_killed_launcher_s_copy_ref_is_removed_by_clean(repo: Path, tmp_path: Path) -> None:
    started = tmp_path / "agent-started"
    _with_agent(repo, str(started))
    (repo / "notes.txt").write_text("the user's untracked notes\n")
    proc = start_launcher(repo, "run", "--task", "write w", "--quiet")
    try:
        wait_for_file(started, proc)
        kept = git(repo, "for-each-ref", "--format=%(refname) %(objecttype)", SNAPSHOT_REFS).split("\n")[0]
        assert kept.endswith(" tree"), kept  # the run holds its copy under a ref while it runs
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    cleaned = launcher_cli(repo, "clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"ref {kept.split()[0]} (a copy of the main checkout's uncommitted files" in cleaned.stdout
    assert git(repo, "for-each-ref", SNAPSHOT_REFS) == ""
    assert (repo / "notes.txt").read_text() == "the user's untracked notes\n"
