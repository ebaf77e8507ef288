"""The merge queue's journal: every batch, fold and bisection step, and each integration-check
verdict by tree.

A check's verdict depends only on the tree it ran on, so it is kept by tree id: a resumed
landing (or a bisection that folds the same candidates onto the same tip again) reads the
verdict instead of running the check twice, and replays the same decisions. A failure read
back this way steers a bisection but never convicts a task on its own (app/queue/batches.py):
a check can fail once and pass the next time.
"""

from __future__ import annotations

import json
import time
from typing import Any

from launcher.store import rows as col
from launcher.store.sqlite import SqliteStore, unbound

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_steps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    tasks_json TEXT NOT NULL DEFAULT '[]',
    tree TEXT,
    ok INTEGER,
    detail TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_steps_run ON queue_steps (run_id, kind);
"""

# Step kinds, in the order a landing pass writes them.
BATCH = "batch"  # a batch of candidates is folded onto the tip
CHECK = "check"  # the integration check ran on a folded tree (ok, output tail)
CHECK_AGAIN = "check_again"  # it ran again on the same tree (to tell its writes from the user's)
BISECT = "bisect"  # a failing group is split in two
CULPRIT = "culprit"  # one candidate alone breaks the check
HELD_BACK = "held_back"  # a candidate not blamed: the check fails on the tip it would land on
NOT_REPRODUCED = "not_reproduced"  # a group's failure: every part passed, and the whole when run again
ACCEPTED = "accepted"  # a group whose fold passed becomes the new tip
RETURNED = "returned"  # a task was sent back to its agent (revision or conflict resolution)
WITHDRAWN = "withdrawn"  # culprits of a pass judged on a tip the target left: not culprits


class QueueLog(SqliteStore):
    def __init__(self, path: Any) -> None:
        super().__init__(path, SCHEMA)

    def record(self, run_id: str, kind: str, tasks: list[str], *, tree: str | None = None,
               ok: bool | None = None, detail: str = "") -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO queue_steps (run_id, kind, tasks_json, tree, ok, detail, at) "
                "VALUES (?,?,?,?,?,?,?)",
                (run_id, kind, json.dumps(tasks), tree, None if ok is None else int(ok), detail,
                 time.time()))

    def check_verdict(self, run_id: str, tree: str) -> tuple[bool, str] | None:
        """The journaled verdict of the integration check on `tree`, if it ever ran on it."""
        row = self._db.execute(
            "SELECT ok, detail FROM queue_steps WHERE run_id=? AND kind=? AND tree=? "
            "ORDER BY seq DESC LIMIT 1", (run_id, CHECK, tree)).fetchone()
        return None if row is None else (bool(row["ok"]), unbound(row["detail"]))

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT kind, tasks_json, tree, ok, detail, at FROM queue_steps WHERE run_id=? "
            "ORDER BY seq", (run_id,)).fetchall()
        with self.decoding(f"the merge queue's steps of run {run_id}"):
            return [{"kind": col.text(r, "kind"), "tasks": col.json_of(r, "tasks_json", list),
                     "tree": col.optional_text(r, "tree"), "ok": None if r["ok"] is None else bool(r["ok"]),
                     "detail": col.text(r, "detail"), "at": col.number(r, "at")} for r in rows]

    def count(self, run_id: str, kind: str) -> int:
        row = self._db.execute("SELECT COUNT(*) AS n FROM queue_steps WHERE run_id=? AND kind=?",
                               (run_id, kind)).fetchone()
        return int(row["n"])
