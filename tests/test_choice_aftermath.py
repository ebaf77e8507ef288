"""What follows a person's choice on an escalated task (`launcher choose`): the tasks that waited
for it say what became of it, the ledger holds one row per decision even across a crash, and an
epic held back by the escalated task lands once it is approved."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import launcher_cli

REVISE = {"judge": {"adapter": "scripted-grader", "set_env": {"LAUNCHER_GRADER_MODE": "always_revise"}}}


def write(name: str) -> list[dict[str, str]]:
    return [{"write": name, "content": f"{name}\n"}]


def run_cli(
    repo: Path, tmp_path: Path, tasks: list[dict[str, Any]], agents: dict[str, Any] | None = None
) -> dict[str, Any]:
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps({"run": {"grader": "judge", "iteration_cap": 1}, "agents": agents or REVISE, "task": tasks})
    )
    return dict(json.loads(launcher_cli(repo, "run", str(plan), "--json").stdout))


def tasks_of(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {t["id"]: (t["state"], t["message"]) for t in report["tasks"]}


def status(repo: Path, run_id: str) -> dict[str, tuple[str, str]]:
    return tasks_of(json.loads(launcher_cli(repo, "status", run_id, "--json").stdout))


@pytest.mark.parametrize(("choice", "state"), [("defer", "deferred"), ("tech-debt", "tech_debt")])
def test_a_dependent_no_longer_waits_for_a_dependency_a_choice_closed(
    repo: Path, tmp_path: Path, choice: str, state: str
) -> None:
    report = run_cli(
        repo,
        tmp_path,
        [
            {"id": "a", "script": write("a.txt")},
            {"id": "b", "depends_on": ["a"], "script": write("b.txt")},
            {"id": "c", "depends_on": ["b"], "script": write("c.txt")},
        ],
    )
    assert tasks_of(report)["b"][1].startswith("waiting: dependency 'a' is escalated")
    launcher_cli(repo, "choose", report["run_id"], "a", choice, "--note", "not now")
    launcher_cli(repo, "resume", report["run_id"])
    after = status(repo, report["run_id"])
    assert after["a"][0] == state
    # Not "waiting ... `launcher choose RUN a approve|continue`": that choice is refused now.
    assert after["b"] == ("skipped", f"dependency 'a' did not succeed (it is {state})"), after["b"]
    assert after["c"] == ("skipped", "dependency 'b' did not succeed"), after["c"]


def test_a_chain_waiting_on_an_escalated_task_runs_whole_once_a_choice_approves_it(repo: Path, tmp_path: Path) -> None:
    calls = tmp_path / "grader-calls"
    judge = {
        "judge": {
            "adapter": "scripted-grader",
            "set_env": {"LAUNCHER_GRADER_MODE": "always_revise,always_satisfied", "LAUNCHER_GRADER_STATE": str(calls)},
        }
    }
    report = run_cli(
        repo,
        tmp_path,
        [
            {"id": "a", "script": write("a.txt")},
            {"id": "b", "depends_on": ["a"], "script": write("b.txt")},
            {"id": "c", "depends_on": ["b"], "script": write("c.txt")},
        ],
        judge,
    )
    assert tasks_of(report)["c"][0] == "skipped"
    chosen = json.loads(launcher_cli(repo, "choose", report["run_id"], "a", "approve", "--json").stdout)
    assert {k: v[0] for k, v in tasks_of(chosen).items()} == {"a": "merged", "b": "merged", "c": "merged"}
    assert (repo / "c.txt").read_text() == "c.txt\n"


def _waits_for_a_flock(pid: int) -> bool:
    """/proc/locks lists a blocked waiter as `N: -> FLOCK ... PID ...`."""
    waiters = (line.split() for line in Path("/proc/locks").read_text().splitlines())
    return any(parts[1:3] == ["->", "FLOCK"] and parts[5] == str(pid) for parts in waiters if len(parts) > 5)


def test_a_tech_debt_choice_killed_before_it_was_journaled_is_one_ledger_row_when_made_again(
    repo: Path, tmp_path: Path
) -> None:
    report = run_cli(repo, tmp_path, [{"id": "a", "script": write("a.txt")}])
    run_id = report["run_id"]
    assert tasks_of(report)["a"][0] == "escalated"
    # Kill `choose` right after it wrote the TECHNICAL_DEBT.md row, before its journal row: the
    # ledger's lock is held until it waits for it, then the journal's until it is killed.
    ledger_lock = os.open(repo, os.O_RDONLY)
    fcntl.flock(ledger_lock, fcntl.LOCK_EX)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    chooser = subprocess.Popen(
        [sys.executable, "-m", "launcher", "choose", run_id, "a", "tech-debt", "--note", "first", "--quiet"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not _waits_for_a_flock(chooser.pid):
        assert time.monotonic() < deadline and chooser.poll() is None, "choose never reached the ledger"
        time.sleep(0.05)
    db = sqlite3.connect(repo / ".launcher" / "launcher.db", timeout=30, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    os.close(ledger_lock)
    while "`a`" not in ((repo / "TECHNICAL_DEBT.md").read_text() if (repo / "TECHNICAL_DEBT.md").exists() else ""):
        assert time.monotonic() < deadline, "choose never wrote its row"
        time.sleep(0.05)
    time.sleep(0.3)
    chooser.send_signal(signal.SIGKILL)
    chooser.wait()
    db.execute("ROLLBACK")
    db.close()
    assert status(repo, run_id)["a"][0] == "escalated"  # the decision was not journaled

    again = launcher_cli(repo, "choose", run_id, "a", "tech-debt", "--note", "second", "--json")
    assert tasks_of(json.loads(again.stdout))["a"][0] == "tech_debt", again.stdout[-2000:]
    rows = [line for line in (repo / "TECHNICAL_DEBT.md").read_text().splitlines() if "`a`" in line]
    assert len(rows) == 1 and rows[0].endswith("| first |"), rows
    assert "already has the row for this decision" in again.stdout


def test_approving_the_escalated_member_of_an_epic_lands_the_whole_epic(repo: Path, tmp_path: Path) -> None:
    # Epic e = {x, y}: x is approved; y changes code with no test, so it waits at the cap, and the
    # landing holds x back ("its epic 'e' is blocked"). Approving y lands both, in one choice.
    rule = {"judge": {"adapter": "scripted-grader", "set_env": {"LAUNCHER_GRADER_MODE": "rule"}}}
    report = run_cli(
        repo,
        tmp_path,
        [{"id": "x", "epic": "e", "script": write("x.txt")}, {"id": "y", "epic": "e", "script": write("src/y.py")}],
        rule,
    )
    first = tasks_of(report)
    assert first["y"][0] == "escalated"
    assert first["x"] == ("skipped", "not landed: its epic 'e' is blocked (task 'y' is escalated); branch kept")
    chosen = launcher_cli(repo, "choose", report["run_id"], "y", "approve", "--note", "ship it", "--json")
    assert chosen.returncode == 0, chosen.stdout[-2000:] + chosen.stderr
    after = json.loads(chosen.stdout)
    assert {k: v[0] for k, v in tasks_of(after).items()} == {"x": "merged", "y": "merged"}
    assert after["status"] == "succeeded"
    assert (repo / "x.txt").exists() and (repo / "src" / "y.py").exists()
