"""Fix15 left-alone defects (workflows, queue, agents, run claims), each stated as what must be true."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from helpers import run_plan

from launcher import process_identity
from launcher.app.report import effective_status
from launcher.store.journal import Journal
from launcher.store.run_claim import held_by_other, holder_gone


# --- 2. run claims: a dead launcher's pid now given to this process ----------------------------

def _claimed_by_a_dead_launcher_with_our_pid(repo: Path) -> str:
    """A real run, whose row then says: running, driven by a launcher with this process's pid but
    another start time (the launcher was killed and the kernel gave its pid to this process)."""
    report = run_plan(repo, [{"id": "t", "script": [{"write": "t.txt", "content": "t\n"}]}], merge=False)
    started = process_identity.start_time(os.getpid())
    assert started is not None
    with sqlite3.connect(repo / ".launcher" / "launcher.db") as db:
        db.execute("UPDATE runs SET status='running', prior_status=NULL, launcher_pid=?, launcher_started=? "
                   "WHERE id=?", (os.getpid(), started - 1000, report.run_id))
    return report.run_id


def test_a_claim_naming_this_process_pid_with_another_start_time_is_a_dead_launchers(repo: Path) -> None:
    run_id = _claimed_by_a_dead_launcher_with_our_pid(repo)
    run = Journal(repo / ".launcher" / "launcher.db").run(run_id)
    assert holder_gone(run.launcher_pid, run.launcher_started)
    assert not held_by_other(run.launcher_pid, run.launcher_started)
    status, message = effective_status(run)
    assert status == "interrupted", (status, message)
    assert f"launcher resume {run_id}" in message


def test_this_process_own_live_claim_is_neither_gone_nor_another_launchers(repo: Path) -> None:
    run_id = _claimed_by_a_dead_launcher_with_our_pid(repo)
    claim = Journal(repo / ".launcher" / "launcher.db").claim_run(run_id, "resume")  # the dead claim is taken over, not refused
    assert claim.pid == os.getpid() and claim.started == process_identity.start_time(os.getpid())
    assert not holder_gone(claim.pid, claim.started) and not held_by_other(claim.pid, claim.started)
    run = Journal(repo / ".launcher" / "launcher.db").run(run_id)
    assert effective_status(run)[0] == "running"
