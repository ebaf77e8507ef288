"""The journal's tables: runs, tasks, rounds, landings, the processes a run started, notes;
and the columns added since the first release. A journal an older launcher wrote gets them at
the first write of a command that writes it, never from a command that only reads it: an older
launcher still driving a run there writes rows by position (`INSERT INTO rounds VALUES (7 values)`)
and would fail on a table with more columns. Until then this connection reads it through TEMP
views and tables (this connection's own, nothing in the file) that give the missing columns
their defaults and the missing tables as empty."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    base_sha TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    settings_json TEXT NOT NULL DEFAULT '{}',
    launcher_pid INTEGER,
    message TEXT NOT NULL DEFAULT '',
    landed_on TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    launcher_started INTEGER,
    prior_status TEXT,
    exit_code INTEGER,
    updated_boot TEXT,
    updated_since_boot REAL
);
CREATE TABLE IF NOT EXISTS tasks (
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    state TEXT NOT NULL,
    branch TEXT,
    worktree TEXT,
    start_sha TEXT,
    head_sha TEXT,
    merged INTEGER NOT NULL DEFAULT 0,
    merge_commit TEXT,
    cost_usd REAL,
    duration_s REAL,
    iteration INTEGER NOT NULL DEFAULT 0,
    agent_pgid INTEGER,
    round_base INTEGER NOT NULL DEFAULT 0,
    approval_hash TEXT,
    included_json TEXT NOT NULL DEFAULT '[]',
    included_blobs_json TEXT NOT NULL DEFAULT '{}',
    files_json TEXT NOT NULL DEFAULT '[]',
    contract_json TEXT,
    message TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    PRIMARY KEY (run_id, task_id)
);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    verdict TEXT,
    audit TEXT,
    error_key TEXT,
    at REAL NOT NULL,
    verdict_sha256 TEXT,
    PRIMARY KEY (run_id, task_id, iteration)
);
CREATE TABLE IF NOT EXISTS landings (
    run_id TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    expected_old TEXT NOT NULL,
    new_tip TEXT NOT NULL,
    tasks_json TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    at REAL NOT NULL,
    main_tree INTEGER NOT NULL DEFAULT 0,
    progress TEXT NOT NULL DEFAULT 'intent'
);
"""

# Every child process a run starts (agents, checks, setup, graders, integration checks): a
# launcher killed with -9 cannot reap them, so the next one reads them here and does.
PROCESSES_SCHEMA = """
CREATE TABLE IF NOT EXISTS processes (
    run_id TEXT NOT NULL,
    task_id TEXT,
    pgid INTEGER NOT NULL,
    kind TEXT NOT NULL,
    argv_head TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL
);
CREATE INDEX IF NOT EXISTS processes_live ON processes (run_id, ended);
CREATE TABLE IF NOT EXISTS notes (
    run_id TEXT NOT NULL,
    task_id TEXT,
    at REAL NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_run ON notes (run_id, at);
"""
# Columns added after the first release: a journal written by an older launcher gets them at its
# first write by this one (`migrate`); read before that through `shadow`.
ADDED_COLUMNS = (
    # The grader relay's (added without being listed here: a first-release journal lacked them and
    # every command refused it as "damaged", "No item with that key").
    ("tasks", "round_base", "INTEGER NOT NULL DEFAULT 0"),
    ("tasks", "approval_hash", "TEXT"),
    ("tasks", "included_blobs_json", "TEXT NOT NULL DEFAULT '{}'"),
    ("landings", "main_tree", "INTEGER NOT NULL DEFAULT 0"),
    ("landings", "progress", "TEXT NOT NULL DEFAULT 'intent'"),
    ("runs", "launcher_started", "INTEGER"),
    ("runs", "prior_status", "TEXT"),
    ("rounds", "verdict_sha256", "TEXT"),
    # The private directory of the agent attempt under way (its `$LAUNCHER_CONTRACT`): removed
    # once its contract is collected, else by the command that takes over after a crash.
    ("tasks", "contract_dir", "TEXT"),
    # The exit code of the error that stopped an `interrupted` run (NULL: Ctrl-C or a signal, 130).
    ("runs", "exit_code", "INTEGER"),
    # `updated_at` as the boot clock read it (wall_clock.boot_clock): how long ago a run ended,
    # whatever steps the wall clock made since (`clean --older-than`).
    ("runs", "updated_boot", "TEXT"),
    ("runs", "updated_since_boot", "REAL"),
)


_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+) \(")


def _statements() -> list[str]:
    return [part.strip() for part in (SCHEMA + PROCESSES_SCHEMA).split(";") if part.strip()]


def _table_statements() -> dict[str, str]:
    """Each journal table -> the statement that creates it."""
    found = {}
    for statement in _statements():
        if match := _CREATE_TABLE.match(statement):
            found[match.group(1)] = statement
    return found


def _default(declaration: str) -> str:
    """The value an added column has in rows written before it (its declared DEFAULT, else NULL)."""
    return declaration.partition(" DEFAULT ")[2] or "NULL"


@dataclass(frozen=True)
class Layout:
    """What the journal file lacks of this version's tables and columns."""

    missing_tables: list[str]
    missing_columns: list[tuple[str, str, str]]  # (table, column, declaration)
    fresh: bool  # none of the journal's tables: a new journal (or one only other stores wrote)

    @property
    def older(self) -> bool:
        """Written by an older launcher: it has journal tables, but not all of this version's."""
        return not self.fresh and bool(self.missing_tables or self.missing_columns)


def layout(db: sqlite3.Connection) -> Layout:
    """The journal file's own tables and columns (`main`, never this connection's TEMP shadows)."""
    present = {str(row[0]) for row in db.execute("SELECT name FROM main.sqlite_master WHERE type='table'")}
    tables = _table_statements()
    missing_tables = [name for name in tables if name not in present]
    columns: dict[str, set[str]] = {}
    missing_columns = []
    for table, column, declaration in ADDED_COLUMNS:
        if table not in present:
            continue
        if table not in columns:
            columns[table] = {str(row[1]) for row in db.execute(f"PRAGMA main.table_info({table})")}
        if column not in columns[table]:
            missing_columns.append((table, column, declaration))
    return Layout(missing_tables, missing_columns, fresh=len(missing_tables) == len(tables))


def shadow(db: sqlite3.Connection, found: Layout) -> None:
    """Read an older journal as if it had this version's layout, changing nothing in the file:
    a TEMP view per table missing columns (those columns as their defaults) and an empty TEMP
    table per missing table. TEMP objects are this connection's alone, and SQLite resolves an
    unqualified name to them before the file's own tables. Writing through them fails: a write
    first calls `unshadow` and `migrate`."""
    tables = _table_statements()
    for table in found.missing_tables:
        db.execute(tables[table].replace("CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE IF NOT EXISTS", 1))
    added: dict[str, list[str]] = {}
    for table, column, declaration in found.missing_columns:
        added.setdefault(table, []).append(f"{_default(declaration)} AS {column}")
    for table, extra in added.items():
        db.execute(f"CREATE TEMP VIEW IF NOT EXISTS {table} AS SELECT *, {', '.join(extra)} FROM main.{table}")


def unshadow(db: sqlite3.Connection) -> None:
    """Drop the TEMP views and tables `shadow` made."""
    tables = set(_table_statements())
    made = [(str(row[0]), str(row[1])) for row in
            db.execute("SELECT type, name FROM temp.sqlite_master WHERE type IN ('view', 'table')")]
    for kind, name in made:
        if name in tables:
            db.execute(f"DROP {kind.upper()} temp.{name}")


def migrate(db: sqlite3.Connection) -> None:
    """Give the journal file this version's tables and columns (in the caller's write
    transaction: launchers migrating at the same moment see each other's work, and none adds a
    column twice)."""
    for statement in _statements():
        db.execute(statement)
    for table, column, declaration in layout(db).missing_columns:
        db.execute(f"ALTER TABLE main.{table} ADD COLUMN {column} {declaration}")
