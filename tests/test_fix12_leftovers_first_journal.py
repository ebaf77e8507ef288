"""A journal the first release of the launcher wrote is read, not refused as "damaged". That
release's tasks table had no `round_base` and `approval_hash` columns (the grader relay added
them), and the journal's list of columns added since did not name them, so every reader failed
on the first task row ("the journal is damaged: ... No item with that key", exit 3, "move it
aside"). Now `status` and `runs` read such a journal as it is (changing nothing in the file),
and the first command that writes it gives it this version's columns."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

from helpers import git, launcher_cli

# The journal tables exactly as the first release created them (launcher/store/journal.py at 73c0813).
FIRST_RELEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, repo TEXT NOT NULL, base_sha TEXT NOT NULL, target TEXT NOT NULL,
    status TEXT NOT NULL, plan_json TEXT NOT NULL, settings_json TEXT NOT NULL DEFAULT '{}',
    launcher_pid INTEGER, message TEXT NOT NULL DEFAULT '', landed_on TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    run_id TEXT NOT NULL, task_id TEXT NOT NULL, position INTEGER NOT NULL, state TEXT NOT NULL,
    branch TEXT, worktree TEXT, start_sha TEXT, head_sha TEXT, merged INTEGER NOT NULL DEFAULT 0,
    merge_commit TEXT, cost_usd REAL, duration_s REAL, iteration INTEGER NOT NULL DEFAULT 0,
    agent_pgid INTEGER, included_json TEXT NOT NULL DEFAULT '[]', files_json TEXT NOT NULL DEFAULT '[]',
    contract_json TEXT, message TEXT NOT NULL DEFAULT '', updated_at REAL NOT NULL,
    PRIMARY KEY (run_id, task_id)
);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, task_id TEXT NOT NULL,
    from_state TEXT, to_state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
    run_id TEXT NOT NULL, task_id TEXT NOT NULL, iteration INTEGER NOT NULL, verdict TEXT,
    audit TEXT, error_key TEXT, at REAL NOT NULL, PRIMARY KEY (run_id, task_id, iteration)
);
CREATE TABLE IF NOT EXISTS landings (
    run_id TEXT PRIMARY KEY, target TEXT NOT NULL, expected_old TEXT NOT NULL, new_tip TEXT NOT NULL,
    tasks_json TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0, at REAL NOT NULL
);
"""
RUN = "r-20261122-120000-abcd"


def _first_release_journal(repo: Path) -> Path:
    """`.launcher/launcher.db` as the first release left it after a run of one task that landed."""
    db_path = repo / ".launcher" / "launcher.db"
    db_path.parent.mkdir()
    head = git(repo, "rev-parse", "HEAD").strip()
    now = time.time()
    with sqlite3.connect(db_path) as db:
        db.executescript(FIRST_RELEASE_SCHEMA)
        db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   (RUN, str(repo), head, "main", "succeeded", json.dumps({"task": [{"id": "t1", "prompt": "x"}]}),
                    "{}", 1, "all landed", "main", now, now))  # fmt: skip
        db.execute("INSERT INTO tasks (run_id, task_id, position, state, merged, updated_at) VALUES (?,?,?,?,?,?)",
                   (RUN, "t1", 0, "merged", 1, now))
        db.execute("INSERT INTO transitions (run_id, task_id, from_state, to_state, at) VALUES (?,?,?,?,?)",
                   (RUN, "t1", None, "pending", now))
    db.close()
    return db_path


def _task_columns(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as db:
        columns = {str(row[1]) for row in db.execute("PRAGMA table_info(tasks)")}
    db.close()
    return columns


def test_status_and_runs_read_a_first_release_journal_without_changing_it(repo: Path) -> None:
    db_path = _first_release_journal(repo)
    status = launcher_cli(repo, "status", RUN, "--json", "--exit-status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "damaged" not in status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert report["status"] == "succeeded"
    assert [(t["id"], t["state"], t["merged"]) for t in report["tasks"]] == [("t1", "merged", True)]
    runs = launcher_cli(repo, "runs")
    assert runs.returncode == 0 and RUN in runs.stdout, runs.stdout + runs.stderr
    assert "round_base" not in _task_columns(db_path)  # a reader changes nothing in the file


def test_the_first_command_that_writes_it_gives_it_this_versions_columns(repo: Path, tmp_path: Path) -> None:
    db_path = _first_release_journal(repo)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "t2", "script": [{"write": "t2.txt", "content": "x\n"}]}]}))
    ran = launcher_cli(repo, "run", str(plan), "--quiet", env={"PYTHON": sys.executable})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert {"round_base", "approval_hash"} <= _task_columns(db_path)
    old = launcher_cli(repo, "status", RUN, "--exit-status")
    assert old.returncode == 0, old.stdout + old.stderr


def test_a_journal_lacking_a_column_no_version_adds_is_said_to_be_another_versions_not_damaged(repo: Path) -> None:
    # A layout this launcher does not know (a table remade without a column it reads): say so,
    # and how to go on, instead of calling the file damaged.
    db_path = _first_release_journal(repo)
    with sqlite3.connect(db_path) as db:
        db.execute("ALTER TABLE tasks DROP COLUMN included_json")
    db.close()
    status = launcher_cli(repo, "status", RUN)
    said = status.stdout + status.stderr
    assert status.returncode == 3, said
    assert "written by a launcher version whose layout this one does not know" in said
    assert "no column 'included_json'" in said
    assert "damaged:" not in said
    assert "run the launcher version that wrote it" in said
