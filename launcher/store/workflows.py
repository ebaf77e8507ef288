"""Workflow state in the journal's database (`workflows` table): one row per workflow, its whole
state as JSON, written in one short transaction before the step it announces is considered done."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from launcher.errors import RunNotFound
from launcher.models.workflow import WorkflowState, WorkflowTemplate
from launcher.store import rows as col
from launcher.store.sqlite import SqliteStore

T = TypeVar("T")

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



def _state_json(state: WorkflowState) -> str:
    """The state as JSON text: `json.dumps` writes a file name's undecodable bytes (lone
    surrogates) as `\\udcXX` escapes, where pydantic's own JSON would refuse them."""
    return json.dumps(state.model_dump(mode="json"))


class WorkflowStore(SqliteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)

    def insert(self, state: WorkflowState, mirror: Callable[[WorkflowState], None]) -> None:
        """A new workflow's first state (its id is new: nobody else writes it yet)."""
        with self._tx() as db:
            self._write(db, state)
            mirror(state)

    def update(self, workflow_id: str, change: Callable[[WorkflowState], bool | None],
               mirror: Callable[[WorkflowState], None]) -> WorkflowState:
        """Read-modify-write in one `BEGIN IMMEDIATE` transaction: the database's write lock is
        held from reading the state until the changed state (and its mirror) is written, so two
        writers (a runner finishing its phase, an operator's `pause`) never lose each other's
        change. `change` works on the fresh state in memory only (never the journal: it would wait
        on the lock this holds); it returns False when there is nothing to write, and raising in it
        writes nothing. Returns the state as it now is."""
        with self._tx() as db:
            state = self._read(db, workflow_id)
            if change(state) is not False:
                self._write(db, state)
                mirror(state)
        return state

    @staticmethod
    def _write(db: sqlite3.Connection, state: WorkflowState) -> None:
        now = time.time()
        state.updated_at = now
        if not state.created_at:
            state.created_at = now
        db.execute(
            "INSERT INTO workflows (id, template, status, state_json, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET status=excluded.status, "
            "state_json=excluded.state_json, updated_at=excluded.updated_at",
            (state.id, state.template, state.status.value, _state_json(state), state.created_at, now),
        )

    def load(self, workflow_id: str) -> WorkflowState:
        return self._read(self._db, workflow_id)

    def _read(self, db: sqlite3.Connection, workflow_id: str) -> WorkflowState:
        row = db.execute("SELECT state_json FROM workflows WHERE id=?", (workflow_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no workflow {workflow_id!r} in {self.path}",
                              fix="`launcher workflow list --all` lists the workflows",
                              error_key="workflow_not_found")
        return self._state(row, workflow_id)

    def all(self, limit: int = 100) -> list[WorkflowState]:
        rows = self._db.execute(
            "SELECT id, state_json FROM workflows ORDER BY rowid DESC LIMIT ?", (limit,)).fetchall()
        return [self._state(r, r["id"]) for r in rows]

    def _state(self, row: sqlite3.Row, workflow_id: str) -> WorkflowState:
        with self.decoding(f"workflow {workflow_id}"):
            state = _checked(WorkflowState.model_validate_json, col.text(row, "state_json"), "")
            for key in ("template", "custom_template"):  # kept at start (app/workflow/session.py)
                if isinstance(stored := state.options.get(key), dict):
                    _checked(WorkflowTemplate.model_validate, stored, f"options.{key}.")
        return state


def _checked(validate: Callable[[Any], T], value: Any, prefix: str) -> T:
    """`validate(value)`; its first problem, if any, as a damaged row naming the key."""
    try:
        return validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = prefix + ".".join(str(part) for part in first["loc"])
        raise col.RowDamaged(f"its state {where.rstrip('.') or 'state_json'}: {first['msg']}") from None
