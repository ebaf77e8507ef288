"""A journal an older launcher wrote, while that older launcher still drives a run in it (the
user upgraded and looks at the run): the current launcher's read-only commands show it without
changing the journal's layout (the older launcher writes rows by position, `INSERT INTO rounds
VALUES (7 values)`, and would fail on wider tables), and a command that writes refuses, naming
the older launcher's pid and what to do, rather than add columns under it. Once that launcher is
gone, the next writing command brings the journal up to date. Real repositories, the real CLI;
the older journal is this launcher's own run copied into the tables an older release made (the
layout of b60f3dc), its run claimed by a live process that runs `launcher`."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import launcher_cli

# The journal's tables as a release before `runs.launcher_started`, `runs.prior_status`,
# `rounds.verdict_sha256`, `tasks.contract_dir` and the `notes` table made them.
OLDER_SCHEMA = """
CREATE TABLE runs (id TEXT PRIMARY KEY, repo TEXT NOT NULL, base_sha TEXT NOT NULL, target TEXT NOT NULL,
    status TEXT NOT NULL, plan_json TEXT NOT NULL, settings_json TEXT NOT NULL DEFAULT '{}', launcher_pid INTEGER,
    message TEXT NOT NULL DEFAULT '', landed_on TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE tasks (run_id TEXT NOT NULL, task_id TEXT NOT NULL, position INTEGER NOT NULL, state TEXT NOT NULL,
    branch TEXT, worktree TEXT, start_sha TEXT, head_sha TEXT, merged INTEGER NOT NULL DEFAULT 0, merge_commit TEXT,
    cost_usd REAL, duration_s REAL, iteration INTEGER NOT NULL DEFAULT 0, agent_pgid INTEGER,
    round_base INTEGER NOT NULL DEFAULT 0, approval_hash TEXT, included_json TEXT NOT NULL DEFAULT '[]',
    included_blobs_json TEXT NOT NULL DEFAULT '{}', files_json TEXT NOT NULL DEFAULT '[]', contract_json TEXT,
    message TEXT NOT NULL DEFAULT '', updated_at REAL NOT NULL, PRIMARY KEY (run_id, task_id));
CREATE TABLE transitions (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, task_id TEXT NOT NULL,
    from_state TEXT, to_state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', at REAL NOT NULL);
CREATE TABLE rounds (run_id TEXT NOT NULL, task_id TEXT NOT NULL, iteration INTEGER NOT NULL, verdict TEXT,
    audit TEXT, error_key TEXT, at REAL NOT NULL, PRIMARY KEY (run_id, task_id, iteration));
CREATE TABLE landings (run_id TEXT PRIMARY KEY, target TEXT NOT NULL, expected_old TEXT NOT NULL,
    new_tip TEXT NOT NULL, tasks_json TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0, at REAL NOT NULL,
    main_tree INTEGER NOT NULL DEFAULT 0, progress TEXT NOT NULL DEFAULT 'intent');
CREATE TABLE processes (run_id TEXT NOT NULL, task_id TEXT, pgid INTEGER NOT NULL, kind TEXT NOT NULL,
    argv_head TEXT NOT NULL, started REAL NOT NULL, ended REAL);
"""


def _plan(tmp_path: Path, task: str) -> Path:
    plan = tmp_path / f"{task}.toml"
    plan.write_text(f'[run]\ngrader = "scripted-grader"\n[[task]]\nid = "{task}"\nagent = "scripted"\n'
                    f'prompt = "p"\nscript = [{{write = "{task}.md", content = "{task}\\n"}}]\n')
    return plan


def _layout(db: Path) -> dict[str, list[str]]:
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as con:
        tables = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: [row[1] for row in con.execute(f"PRAGMA table_info({t})")] for t in tables}


def _as_an_older_launcher_wrote_it(db: Path, driver_pid: int) -> str:
    """The journal's rows in the older tables; its run `running`, claimed by `driver_pid` (an
    older launcher records no start time). Returns the run's id."""
    older = db.with_name("older.db")
    con = sqlite3.connect(older)
    con.executescript(OLDER_SCHEMA)
    con.execute("ATTACH ? AS now", (str(db),))
    # the other stores' tables (usage, queue steps) as they are: older launchers made them alike
    for (sql,) in con.execute("SELECT sql FROM now.sqlite_master WHERE type='table' AND name NOT IN "
                              "(SELECT name FROM main.sqlite_master) AND name NOT IN ('notes', 'sqlite_sequence')"
                              ).fetchall():
        con.execute(sql)
    for (table,) in con.execute("SELECT name FROM main.sqlite_master WHERE type='table' "
                                "AND name != 'sqlite_sequence'").fetchall():
        columns = ", ".join(row[1] for row in con.execute(f"PRAGMA main.table_info({table})"))
        con.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM now.{table}")
    (run_id,) = con.execute("SELECT id FROM main.runs").fetchone()
    con.execute("UPDATE main.runs SET status='running', launcher_pid=?", (driver_pid,))
    con.commit()
    con.execute("DETACH now")
    con.close()
    for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)
    older.rename(db)
    return str(run_id)


@pytest.fixture
def older_driver() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that runs `launcher` (what an older launcher's claim, a pid alone, is checked against)."""
    proc = subprocess.Popen(["bash", "-c", "exec -a launcher sleep 300"])
    yield proc
    proc.kill()
    proc.wait()


def test_reading_commands_leave_an_older_launchers_journal_as_it_is_and_writing_ones_refuse_under_it(
        repo: Path, tmp_path: Path, older_driver: subprocess.Popen[bytes]) -> None:
    first = launcher_cli(repo, "run", str(_plan(tmp_path, "t1")), "--quiet")
    assert first.returncode == 0, first.stderr
    db = repo / ".launcher" / "launcher.db"
    run_id = _as_an_older_launcher_wrote_it(db, older_driver.pid)
    before = _layout(db)
    assert "verdict_sha256" not in before["rounds"] and "notes" not in before

    # the user looks at the run: every reader shows it, and the journal keeps its layout
    status = launcher_cli(repo, "status")
    assert status.returncode == 0, status.stderr
    assert run_id in status.stdout and f"launcher pid {older_driver.pid}" in status.stdout, status.stdout
    runs = launcher_cli(repo, "runs")
    assert runs.returncode == 0 and run_id in runs.stdout and "running" in runs.stdout, runs.stderr
    for command in (["status", run_id, "--json"], ["logs", run_id, "t1"], ["diff", run_id, "t1"]):
        shown = launcher_cli(repo, *command)
        assert shown.returncode == 0, (command, shown.stderr)
    assert _layout(db) == before
    with sqlite3.connect(db) as older:  # the older launcher's next round is written as it writes it
        older.execute("INSERT OR REPLACE INTO rounds VALUES (?,?,?,?,?,?,?)", (run_id, "t1", 9, "ok", "", None, 0.0))

    # a command that writes refuses, naming the older launcher, and changes nothing
    refused = launcher_cli(repo, "run", str(_plan(tmp_path, "t2")), "--quiet")
    assert refused.returncode == 2, refused.stderr
    assert f"written by an older launcher, which still drives run {run_id} (pid {older_driver.pid})" \
        in refused.stderr, refused.stderr
    assert f"let run {run_id} finish" in refused.stderr and f"kill {older_driver.pid}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _layout(db) == before
    assert launcher_cli(repo, "runs").stdout.count("\n") == 1  # no run was recorded

    # that launcher gone, the next writing command brings the journal up to date and runs
    older_driver.kill()
    older_driver.wait()
    again = launcher_cli(repo, "run", str(_plan(tmp_path, "t2")), "--quiet")
    assert again.returncode == 0, again.stderr
    after = _layout(db)
    assert "verdict_sha256" in after["rounds"] and "launcher_started" in after["runs"] and "notes" in after
    listed = launcher_cli(repo, "runs").stdout
    assert listed.count("\n") == 2 and run_id in listed, listed
