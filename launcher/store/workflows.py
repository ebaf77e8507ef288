"""Workflow state in the journal's database (`workflows` table): one row per workflow, its whole
state as JSON, written in one short transaction before the step it announces is considered done."""

from __future__ import annotations

import time
from pathlib import Path

from launcher.errors import RunNotFound
from launcher.models.workflow import WorkflowState
from launcher.store.sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
    id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    status TEXT NOT NULL,
    state_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
"""


class WorkflowStore(SqliteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)

    def save(self, state: WorkflowState) -> None:
        now = time.time()
        state.updated_at = now
        if not state.created_at:
            state.created_at = now
        with self._tx() as db:
            db.execute(
                "INSERT INTO workflows (id, template, status, state_json, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET status=excluded.status, "
                "state_json=excluded.state_json, updated_at=excluded.updated_at",
                (state.id, state.template, state.status.value, state.model_dump_json(),
                 state.created_at, now),
            )

    def load(self, workflow_id: str) -> WorkflowState:
        row = self._db.execute("SELECT state_json FROM workflows WHERE id=?", (workflow_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no workflow {workflow_id!r} in {self.path}",
                              fix="`launcher workflow list --all` lists the workflows",
                              error_key="workflow_not_found")
        return WorkflowState.model_validate_json(row["state_json"])

    def all(self, limit: int = 100) -> list[WorkflowState]:
        rows = self._db.execute(
            "SELECT state_json FROM workflows ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [WorkflowState.model_validate_json(r["state_json"]) for r in rows]
