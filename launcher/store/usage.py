"""What a run spent: one row per paid process group (an agent round, a grading round), by role.

A row is keyed by what it pays for (e.g. `round-2`, `grader-2`), so recording the same round
again (a resumed run collecting a finished round a second time) replaces it: nothing is ever
counted twice, and nothing is lost when one round took several CLI processes (a corrective
attempt resumes the CLI session, and a resumed CLI reports its own cost, not the session's).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from launcher.store import rows as col
from launcher.store.sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    role TEXT NOT NULL,
    key TEXT NOT NULL,
    cost_usd REAL,
    tokens_json TEXT NOT NULL DEFAULT '{}',
    at REAL NOT NULL,
    PRIMARY KEY (run_id, task_id, role, key)
);
"""

ROLES = ("agent", "grader", "judge")


@dataclass
class Spend:
    """Cost (None: no process reported one) and tokens summed by kind."""

    cost_usd: float | None = None
    tokens: dict[str, int] = field(default_factory=dict)

    def add(self, cost_usd: float | None, tokens: dict[str, int] | None) -> None:
        if cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + cost_usd
        for kind, count in (tokens or {}).items():
            if isinstance(count, int) and not isinstance(count, bool):
                self.tokens[kind] = self.tokens.get(kind, 0) + count


def add_outcomes(first: tuple[float | None, dict[str, int] | None],
                 second: tuple[float | None, dict[str, int] | None]) -> Spend:
    """Two processes of one round, summed."""
    spend = Spend()
    spend.add(*first)
    spend.add(*second)
    return spend


class UsageLedger(SqliteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)

    def record(self, run_id: str, task_id: str, role: str, key: str, cost_usd: float | None,
               tokens: dict[str, int] | None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO usage VALUES (?,?,?,?,?,?,?)",
                       (run_id, task_id, role, key, cost_usd, json.dumps(tokens or {}), time.time()))

    def set_aside(self, run_id: str, task_id: str, label: str) -> None:
        """Keep a task's booked processes under `label/` keys: a retry starts its rounds over
        (round-1 again) and must add to what the earlier attempt cost, never replace it."""
        with self._tx() as db:
            db.execute("UPDATE usage SET key = ? || '/' || key WHERE run_id=? AND task_id=? AND key NOT LIKE '%/%'",
                       (label, run_id, task_id))

    def label_used(self, run_id: str, task_id: str, label: str) -> bool:
        """Whether `set_aside` already used `label` for this task."""
        return self._db.execute("SELECT 1 FROM usage WHERE run_id=? AND task_id=? AND substr(key, 1, ?) = ? LIMIT 1",
                                (run_id, task_id, len(label) + 1, f"{label}/")).fetchone() is not None

    def by_task(self, run_id: str) -> dict[str, dict[str, Spend]]:
        """task -> role -> spend."""
        result: dict[str, dict[str, Spend]] = {}
        rows = self._db.execute(
            "SELECT task_id, role, cost_usd, tokens_json FROM usage WHERE run_id=? ORDER BY at",
            (run_id,)).fetchall()
        for row in rows:
            with self.decoding(f"the usage of task {row['task_id']!r} of run {run_id}"):
                spend = result.setdefault(col.text(row, "task_id"), {}).setdefault(col.text(row, "role"), Spend())
                spend.add(col.optional_number(row, "cost_usd"), col.json_of(row, "tokens_json", dict))
        return result

    def task_cost(self, run_id: str, task_id: str) -> float | None:
        """Everything the task cost so far (agents and graders); None when nothing reported a cost."""
        row = self._db.execute("SELECT SUM(cost_usd) AS s FROM usage WHERE run_id=? AND task_id=?",
                               (run_id, task_id)).fetchone()
        return row["s"]

    def run_cost(self, run_id: str) -> float:
        """Everything the run cost so far (each process once, best-of attempts included)."""
        row = self._db.execute("SELECT SUM(cost_usd) AS s FROM usage WHERE run_id=?", (run_id,)).fetchone()
        return float(row["s"] or 0.0)
