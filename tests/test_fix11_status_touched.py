"""`launcher status` of a running run does not look into every running task's worktree.

Its conflict prediction needs what each running task has touched so far; `status` used to run a
`git status --untracked-files=all` of the whole repository in every tree at work, one after
another (a minute on a big monorepo with many tasks). The launcher driving the run now records
it (`touched.json`, a tree at a time, a bounded share of the time); `status` reads the records,
and looks at the trees itself, a few at once, only when nobody drives the run."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from helpers import git_on_path, launcher_cli, start_launcher

WAIT = "while [ ! -e {stop} ]; do sleep 0.2; done"


def _plan(repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    stop = tmp_path / "stop"
    tasks = [{"id": f"t{i}", "agent": "edit", "prompt": "x"} for i in range(3)]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"max_parallel": 3},
        "agents": {"edit": {"adapter": "command", "command": [
            "sh", "-c", "echo more >> README.md; echo new > new_$LAUNCHER_TASK_ID.txt; " + WAIT.format(stop=stop)]}},
        "task": tasks,
    }))
    return plan, stop


def _records(repo: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for record in (repo / ".launcher" / "runs").glob("*/*/touched.json"):
        found[record.parent.name] = json.loads(record.read_text())
    return found


def _wait(until: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert until(), "timed out"


def test_status_of_a_driven_run_reads_the_records_and_runs_no_git_status_in_the_trees(
        repo: Path, tmp_path: Path) -> None:
    plan, stop = _plan(repo, tmp_path)
    running = start_launcher(repo, "run", str(plan), "--no-merge")
    try:
        # The driving launcher looks at each running tree and records what it touched,
        # uncommitted and untracked files included.
        _wait(lambda: len(_records(repo)) == 3 and all(r["files"] for r in _records(repo).values()))
        for task_id, record in _records(repo).items():
            assert record["files"] == ["README.md", f"new_{task_id}.txt"]
            assert record["pid"] == running.pid

        log = tmp_path / "git.log"
        logging = git_on_path(tmp_path, f'echo "$PWD $*" >> {log}')
        shown = launcher_cli(repo, "status", "--json", env=logging)
        report = json.loads(shown.stdout)
        predicted = sorted((c["a"], c["b"], c["files"]) for c in report["conflicts"] if c["kind"] == "predicted")
        assert predicted == [("t0", "t1", ["README.md"]), ("t0", "t2", ["README.md"]),
                             ("t1", "t2", ["README.md"])]
        ran = log.read_text().splitlines()
        assert not [line for line in ran if " status " in f" {line} " and "/worktrees/" in line], ran
    finally:
        stop.touch()
        running.wait(timeout=120)


def test_status_of_a_run_nobody_drives_looks_at_its_running_trees_itself(repo: Path, tmp_path: Path) -> None:
    plan, stop = _plan(repo, tmp_path)
    running = start_launcher(repo, "run", str(plan), "--no-merge")
    try:
        _wait(lambda: len(_records(repo)) == 3)
        os.killpg(running.pid, signal.SIGKILL)  # the launcher and its agents: the trees stay as they are
        running.wait(timeout=30)
        for record in (repo / ".launcher" / "runs").glob("*/*/touched.json"):
            record.unlink()  # nothing recorded: what status says comes from its own look

        shown = launcher_cli(repo, "status", "--json")
        report = json.loads(shown.stdout)
        predicted = sorted((c["a"], c["b"], c["files"]) for c in report["conflicts"] if c["kind"] == "predicted")
        assert predicted == [("t0", "t1", ["README.md"]), ("t0", "t2", ["README.md"]),
                             ("t1", "t2", ["README.md"])]
    finally:
        stop.touch()
        if running.poll() is None:
            running.kill()
        launcher_cli(repo, "clean", "--all", "--force")
