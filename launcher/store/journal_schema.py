"""The journal's tables: runs, tasks, rounds, landings, the processes a run started, notes;
and the columns added since the first release (a journal an older launcher wrote gets them on open)."""

from __future__ import annotations

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
    prior_status TEXT
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
# Columns added after the first release: a journal written by an older launcher gets them on open.
ADDED_COLUMNS = (
    ("tasks", "included_blobs_json", "TEXT NOT NULL DEFAULT '{}'"),
    ("landings", "main_tree", "INTEGER NOT NULL DEFAULT 0"),
    ("landings", "progress", "TEXT NOT NULL DEFAULT 'intent'"),
    ("runs", "launcher_started", "INTEGER"),
    ("runs", "prior_status", "TEXT"),
    ("rounds", "verdict_sha256", "TEXT"),
    # The private directory of the agent attempt under way (its `$LAUNCHER_CONTRACT`): removed
    # once its contract is collected, else by the command that takes over after a crash.
    ("tasks", "contract_dir", "TEXT"),
)
