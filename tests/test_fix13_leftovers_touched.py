"""What running tasks have touched (recorded for `status`'s conflict predictions) is advisory:
an error while recording it never ends, fails or changes a run.

The recorder runs alongside the tasks; it used to catch only the launcher's own errors, so a
journal that is busy ("database is locked"), a worktree an agent deletes under the look
(`OSError`) or an odd file name (`UnicodeDecodeError`) ended the whole run. Now the run goes on
to merge every task, and the user is told once that the predictions may be stale."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.app.queue import touched
from launcher.app.run.runner import RunOptions, start_run
from launcher.git import conflict_matrix
from launcher.models.events import Event
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport
from launcher.models.states import TaskState
from launcher.store.journal import Journal

AGENT = """
import json, os, pathlib, time
task = os.environ["LAUNCHER_TASK_ID"]
pathlib.Path(task + ".txt").write_text(task + "\\n")
time.sleep(1.5)  # long enough to be looked at, more than once
pathlib.Path(os.environ["LAUNCHER_CONTRACT"]).write_text(json.dumps({
    "contract_version": "1", "task_id": task, "status": "done", "summary": "did it",
    "files_changed": [task + ".txt"], "tests_added": [], "decisions": [], "blockers": [],
    "llm_observations": ""}))
"""


def _run(repo: Path, events: list[Event]) -> RunReport:
    """Three tasks, each committing its own file after a while (long enough to be looked at)."""
    plan = validate_plan({"run": {"max_parallel": 3},
                          "agents": {"py": {"adapter": "command", "command": [sys.executable, "-c", AGENT]}},
                          "task": [{"id": f"t{i}", "agent": "py", "prompt": "x"} for i in range(3)]},
                         "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(merge=True), events.append)


def _locked(*_args: Any, **_kwargs: Any) -> Any:
    raise sqlite3.OperationalError("database is locked")


async def _tree_gone(*_args: Any, **_kwargs: Any) -> list[str]:
    raise FileNotFoundError(2, "No such file or directory", "/worktrees/t0/sub")


async def _odd_name(*_args: Any, **_kwargs: Any) -> list[str]:
    raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


@pytest.mark.parametrize("where, hostile", [
    ("journal", _locked), ("tree", _tree_gone), ("name", _odd_name)])
def test_an_error_while_recording_what_tasks_touched_leaves_the_run_unaffected(
        repo: Path, monkeypatch: pytest.MonkeyPatch, where: str, hostile: Any) -> None:
    monkeypatch.setattr(touched, "FIRST_AFTER_S", 0.0)  # look at once, and often
    monkeypatch.setattr(touched, "POLL_S", 0.05)
    if where == "journal":
        monkeypatch.setattr(Journal, "running_trees", _locked)
    else:
        monkeypatch.setattr(conflict_matrix, "touched_files", hostile)
    events: list[Event] = []

    report = _run(repo, events)

    assert report.status == "succeeded", report
    assert {t.id: t.state for t in report.tasks} == {f"t{i}": TaskState.MERGED for i in range(3)}
    for i in range(3):
        assert (repo / f"t{i}.txt").read_text() == f"t{i}\n"  # on the target and in the work tree
    said = [e.message for e in events if e.kind == "note" and "conflict predictions" in e.message]
    assert len(said) == 1, said  # told once, not at every look


def test_after_a_passing_error_the_recorder_keeps_recording(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(touched, "FIRST_AFTER_S", 0.0)
    monkeypatch.setattr(touched, "POLL_S", 0.05)
    real = conflict_matrix.touched_files
    failures = iter([OSError("Stale file handle")])

    async def once_failing(*args: Any, **kwargs: Any) -> list[str]:
        for exc in failures:
            raise exc
        return await real(*args, **kwargs)

    monkeypatch.setattr(conflict_matrix, "touched_files", once_failing)
    report = _run(repo, [])

    assert report.status == "succeeded", report
    records = list((repo / ".launcher" / "runs" / report.run_id).glob("*/" + touched.RECORD))
    assert records, "nothing recorded after the first error"
