"""A shard's task whose work is on the target already is reported merged ("already landed ...;
not landed again"), never blocked or failed, whatever order or overlap of `launcher land RUN` and
`launcher land --from DIR` put it there (README, "One plan across a CI matrix": running the final
job again lands nothing twice, a task already on the target is reported `merged`)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli, start_launcher

# The first landing's integration check says it started, then takes 4 s; any later one takes
# 6 s: a second land started meanwhile folds onto the old tip and loses the swap to the first.
CHECK = """import os, pathlib, sys, time
marks = pathlib.Path(sys.argv[1])
try:
    os.mkdir(marks / "first")
except FileExistsError:
    time.sleep(6)
else:
    (marks / "started").touch()
    time.sleep(4)
"""


def _shard(repo: Path, tmp_path: Path) -> tuple[Path, str]:
    """A shard run of two approved tasks, exported, not landed: (its export, its run id)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "check.py").write_text(CHECK)
    plan = {
        "run": {"integration_check": f"{sys.executable} {tmp_path / 'check.py'} {marks}"},
        "task": [
            {"id": "g1", "script": [{"write": "g1.txt", "content": "one\n"}]},
            {"id": "g2", "script": [{"write": "g2.txt", "content": "two\n"}]},
        ],
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    export = tmp_path / "export"
    done = launcher_cli(
        repo, "run", str(tmp_path / "plan.json"), "--shard", "1/1", "--no-merge", "--export", str(export), "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return export, json.loads(done.stdout)["run_id"]


def _overlapping(cwd: Path, marks: Path, first: list[str], second: list[str]) -> list[tuple[int, dict[str, Any]]]:
    """`first` started, and `second` once the first's integration check runs; both reports."""
    one = start_launcher(cwd, *first, "--json")
    deadline = time.monotonic() + 60
    while not (marks / "started").exists() and one.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (marks / "started").exists(), one.communicate()
    two = start_launcher(cwd, *second, "--json")
    reports = []
    for proc in (one, two):
        out, err = proc.communicate(timeout=180)
        assert out, err
        reports.append((proc.returncode, json.loads(out)))
    return reports


def _landed_once(repo: Path) -> None:
    assert git(repo, "show", "main:g1.txt") == "one\n" and git(repo, "show", "main:g2.txt") == "two\n"
    merges = [
        line
        for line in git(repo, "log", "--first-parent", "--format=%s", "main").splitlines()
        if line.startswith("Merge g")
    ]
    assert len(merges) == 2, merges  # nothing landed twice


def _all_merged(code: int, report: dict[str, Any]) -> dict[str, str]:
    states = {t["id"]: (t["state"], t["merged"], t["message"]) for t in report["tasks"]}
    assert code == 0 and report["status"] == "succeeded", states
    assert all(state == "merged" and merged for state, merged, _ in states.values()), states
    return {task: message for task, (_, _, message) in states.items()}


def test_two_land_from_of_one_export_at_once_both_report_the_tasks_merged(repo: Path, tmp_path: Path) -> None:
    export, _ = _shard(repo, tmp_path)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))

    (code1, first), (code2, second) = _overlapping(
        clone, tmp_path / "marks", ["land", "--from", str(export)], ["land", "--from", str(export)]
    )

    assert set(_all_merged(code1, first).values()) == {"landed on main"}
    for message in _all_merged(code2, second).values():
        assert message.startswith("already landed on main by ") and "not landed again" in message, message
        assert "withdrawn" not in message
    _landed_once(clone)


def test_land_from_beside_land_run_of_its_shard_reports_the_tasks_merged(repo: Path, tmp_path: Path) -> None:
    export, run_id = _shard(repo, tmp_path)

    (code1, first), (code2, second) = _overlapping(
        repo, tmp_path / "marks", ["land", run_id], ["land", "--from", str(export)]
    )

    _all_merged(code1, first)
    for message in _all_merged(code2, second).values():
        assert message.startswith("already landed on main by ") and f"`launcher land {run_id}`" in message, message
    _landed_once(repo)
