"""Mutation sweeps in the SQLite store (`.launcher/launcher.db`, WAL), beside the run journal.

Three tables: `mutation_sweeps` (one row per sweep), `mutation_results` (one row per settled
mutant of a sweep, written as each one finishes, so a sweep killed half-way resumes where it
stopped), and `mutation_cache` (results by cache key, so an unchanged mutant is not re-run by a
later sweep). Plain types only: this layer knows nothing of the mutation package.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launcher import process_identity
from launcher.errors import RunNotFound, UsageProblem
from launcher.store import rows as col
from launcher.store import run_claim
from launcher.store.sqlite import SqliteStore, free_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS mutation_sweeps (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    base_sha TEXT NOT NULL,
    options_key TEXT NOT NULL,
    options_json TEXT NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    out_dir TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    pid_started INTEGER
);
CREATE INDEX IF NOT EXISTS mutation_sweeps_by_key ON mutation_sweeps (repo, base_sha, options_key);
CREATE TABLE IF NOT EXISTS mutation_results (
    sweep_id TEXT NOT NULL,
    mutant_id TEXT NOT NULL,
    status TEXT NOT NULL,
    executor TEXT NOT NULL,
    duration_s REAL NOT NULL,
    killed_by_json TEXT NOT NULL DEFAULT '[]',
    tests_json TEXT NOT NULL DEFAULT '[]',
    cache_key TEXT,
    source TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL,
    PRIMARY KEY (sweep_id, mutant_id)
);
CREATE TABLE IF NOT EXISTS mutation_cache (
    cache_key TEXT PRIMARY KEY,
    mutant_id TEXT NOT NULL,
    status TEXT NOT NULL,
    executor TEXT NOT NULL,
    duration_s REAL NOT NULL,
    killed_by_json TEXT NOT NULL DEFAULT '[]',
    at REAL NOT NULL
);
"""

RUNNING, INTERRUPTED, DONE, FAILED = "running", "interrupted", "done", "failed"


def new_sweep_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"m-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@dataclass
class SweepRow:
    id: str
    repo: str
    base_sha: str
    options_key: str
    options: dict[str, Any]
    status: str
    pid: int | None
    out_dir: str | None
    created_at: float
    pid_started: int | None = None  # the start time of process `pid` (None: recorded by an older launcher)

    def running_elsewhere(self) -> bool:
        """Whether the sweep is marked running by a live launcher other than this process."""
        return self.status == RUNNING and self.pid != os.getpid() and _holder_alive(self.pid, self.pid_started)


@dataclass
class ResultRow:
    mutant_id: str
    status: str  # a MutantStatus value
    executor: str  # "generic" | "fork" | "none" (settled without running)
    duration_s: float
    killed_by: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    cache_key: str | None = None
    source: str = "run"  # "run" | "cached" | "static"
    note: str = ""
    at: float = 0.0  # when it was stored (a resumed sweep tells which attempt keyed it)


class SweepBusy(UsageProblem):
    """Another live launcher runs the sweep (exit 2)."""

    default_key = "sweep_busy"


def _holder_alive(pid: int | None, started: int | None) -> bool:
    """Whether `pid`, started at `started`, is a live launcher (this one included): a pid the
    kernel gave to another process since (a later start time; without one, recorded by an older
    launcher: a process that does not run launcher) holds no sweep."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():  # this launcher, unless one with another start time had its pid
        return run_claim.is_self(pid, started)
    return process_identity.launcher_alive(pid, started)


def _me() -> tuple[int, int | None]:
    return os.getpid(), process_identity.start_time(os.getpid())


class MutantStore(SqliteStore):
    """One connection; each write is its own short transaction."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)
        self._add_started_column()

    def _add_started_column(self) -> None:
        """Give a store made by an older launcher the `pid_started` column (its rows keep NULL:
        checked by pid alone, as before). Read-only, the rows are read without it."""
        def present() -> bool:
            return any(r["name"] == "pid_started" for r in self._db.execute("PRAGMA table_info(mutation_sweeps)"))
        if self.read_only is None and not present():
            with self._tx() as db:
                if not present():
                    db.execute("ALTER TABLE mutation_sweeps ADD COLUMN pid_started INTEGER")
        self._started = "pid_started" if present() else "NULL AS pid_started"

    # sweeps ---------------------------------------------------------------------------------
    def create_sweep(self, draw_id: Callable[[], str], *, repo: str, base_sha: str, options_key: str,
                     options: dict[str, Any]) -> str:  # fmt: skip
        """Record a new sweep under an id `draw_id` gives that no sweep holds; returns the id."""
        now = time.time()
        with self._tx() as db:
            sweep_id = free_id(draw_id, lambda candidate: db.execute(
                "SELECT 1 FROM mutation_sweeps WHERE id=?", (candidate,)).fetchone() is not None)
            db.execute(
                "INSERT INTO mutation_sweeps (id, repo, base_sha, options_key, options_json, status, pid, out_dir, "
                "created_at, updated_at, pid_started) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (sweep_id, repo, base_sha, options_key, json.dumps(options), RUNNING, os.getpid(), None, now, now,
                 _me()[1]),
            )
        return sweep_id

    def sweep(self, sweep_id: str) -> SweepRow:
        row = self._db.execute(f"SELECT *, {self._started} FROM mutation_sweeps WHERE id=?", (sweep_id,)).fetchone()
        if row is None:
            fix = "`launcher mutation sweep` starts one"
            raise RunNotFound(f"no mutation sweep {sweep_id!r} in {self.path}", fix=fix)
        with self.decoding(f"mutation sweep {sweep_id}"):
            return SweepRow(
                id=col.text(row, "id"), repo=col.text(row, "repo"), base_sha=col.text(row, "base_sha"),
                options_key=col.text(row, "options_key"), options=col.json_of(row, "options_json", dict),
                status=col.text(row, "status"), pid=col.optional_integer(row, "pid"),
                out_dir=col.optional_text(row, "out_dir"), created_at=col.number(row, "created_at"),
                pid_started=col.optional_integer(row, "pid_started"),
            )  # fmt: skip

    def sweeps(self, limit: int = 20) -> list[SweepRow]:
        rows = self._db.execute("SELECT id FROM mutation_sweeps ORDER BY rowid DESC LIMIT ?", (limit,))
        return [self.sweep(r["id"]) for r in rows.fetchall()]

    def find_resumable(self, *, repo: str, base_sha: str, options_key: str) -> str | None:
        """The latest unfinished sweep of the same code and options: interrupted, or marked
        running by a process that no longer exists (killed without a chance to say so)."""
        rows = self._db.execute(
            f"SELECT id, status, pid, {self._started} FROM mutation_sweeps "
            "WHERE repo=? AND base_sha=? AND options_key=? AND status IN (?, ?) "
            "ORDER BY rowid DESC",  # insertion order: a clock step never reorders
            (repo, base_sha, options_key, RUNNING, INTERRUPTED),
        ).fetchall()
        for row in rows:
            if row["status"] == INTERRUPTED or not _holder_alive(row["pid"], row["pid_started"]):
                return str(row["id"])
        return None

    def claim_sweep(self, sweep_id: str) -> None:
        """Mark the sweep running by this process, in one transaction with the check that no other
        live launcher runs it: two launchers continuing one sweep would share its trees (each
        undoing the other's mutants). Raises SweepBusy naming that launcher, changing nothing."""
        with self._tx() as db:
            row = db.execute(f"SELECT status, pid, {self._started} FROM mutation_sweeps WHERE id=?",
                             (sweep_id,)).fetchone()  # fmt: skip
            if row is None:
                raise RunNotFound(f"no mutation sweep {sweep_id!r} in {self.path}",
                                  fix="`launcher mutation sweep` starts one")  # fmt: skip
            pid = row["pid"]
            if row["status"] == RUNNING and pid != os.getpid() and _holder_alive(pid, row["pid_started"]):
                raise SweepBusy(
                    f"mutation sweep {sweep_id} is already running in launcher pid {pid}: a second launcher would "
                    "run its mutants in the same trees", where=str(self.path),
                    fix=f"wait for that launcher to finish (`launcher mutation list` shows the sweep), or "
                        f"{process_identity.stop_advice(pid)}, then run `launcher mutation sweep --resume {sweep_id}` "
                        "if it is still unfinished")  # fmt: skip
            db.execute("UPDATE mutation_sweeps SET status=?, pid=?, pid_started=?, updated_at=? WHERE id=?",
                       (RUNNING, *_me(), time.time(), sweep_id))  # fmt: skip

    def set_sweep(self, sweep_id: str, *, status: str | None = None, out_dir: str | None = None) -> None:
        with self._tx() as db:
            if status is not None:
                db.execute("UPDATE mutation_sweeps SET status=?, pid=?, pid_started=?, updated_at=? WHERE id=?",
                           (status, *_me(), time.time(), sweep_id))  # fmt: skip
            if out_dir is not None:
                db.execute("UPDATE mutation_sweeps SET out_dir=? WHERE id=?", (out_dir, sweep_id))

    # results --------------------------------------------------------------------------------
    def record(self, sweep_id: str, row: ResultRow, *, cache: bool = False) -> None:
        """Store a settled mutant; with `cache`, also remember it under its cache key."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO mutation_results VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (sweep_id, row.mutant_id, row.status, row.executor, row.duration_s, json.dumps(row.killed_by),
                 json.dumps(row.tests), row.cache_key, row.source, row.note, now),
            )  # fmt: skip
            if cache and row.cache_key:
                db.execute(
                    "INSERT OR REPLACE INTO mutation_cache VALUES (?,?,?,?,?,?,?)",
                    (row.cache_key, row.mutant_id, row.status, row.executor, row.duration_s,
                     json.dumps(row.killed_by), now),
                )  # fmt: skip

    def results(self, sweep_id: str) -> dict[str, ResultRow]:
        rows = self._db.execute("SELECT * FROM mutation_results WHERE sweep_id=?", (sweep_id,)).fetchall()
        with self.decoding(f"the results of mutation sweep {sweep_id}"):
            return {
                col.text(r, "mutant_id"): ResultRow(
                    mutant_id=col.text(r, "mutant_id"), status=col.text(r, "status"), executor=col.text(r, "executor"),
                    duration_s=col.number(r, "duration_s"), killed_by=col.json_of(r, "killed_by_json", list),
                    tests=col.json_of(r, "tests_json", list), cache_key=col.optional_text(r, "cache_key"),
                    source=col.text(r, "source"), note=col.text(r, "note"), at=col.number(r, "at"),
                )
                for r in rows
            }

    def keep_only(self, sweep_id: str, mutant_ids: set[str]) -> int:
        """Drop the sweep's rows of mutants that no longer exist (a sweep resumed over code edited
        since: their verdicts would count in its score); how many were dropped."""
        with self._tx() as db:
            rows = db.execute("SELECT mutant_id FROM mutation_results WHERE sweep_id=?", (sweep_id,)).fetchall()
            gone = [(sweep_id, r["mutant_id"]) for r in rows if r["mutant_id"] not in mutant_ids]
            db.executemany("DELETE FROM mutation_results WHERE sweep_id=? AND mutant_id=?", gone)
        return len(gone)

    def status_counts(self, sweep_id: str) -> dict[str, int]:
        """How many of the sweep's mutants settled, by status."""
        rows = self._db.execute("SELECT status, COUNT(*) AS n FROM mutation_results WHERE sweep_id=? GROUP BY status",
                                (sweep_id,)).fetchall()  # fmt: skip
        return {r["status"]: int(r["n"]) for r in rows}

    def cached(self, cache_key: str) -> ResultRow | None:
        r = self._db.execute("SELECT * FROM mutation_cache WHERE cache_key=?", (cache_key,)).fetchone()
        if r is None:
            return None
        with self.decoding(f"the cached result {cache_key}"):
            return ResultRow(
                mutant_id=col.text(r, "mutant_id"), status=col.text(r, "status"), executor=col.text(r, "executor"),
                duration_s=col.number(r, "duration_s"), killed_by=col.json_of(r, "killed_by_json", list),
                cache_key=cache_key, source="cached",
            )  # fmt: skip
