"""The values a run passes to its agents and checks, masked in what the journal keeps.

A failing check's output tail, an agent's message and its contract (summary, observations) may
hold a value the run handed out through `env` / `check_env`: the journal stores them as
`***(NAME)` (`launcher.models.redact`), so `status --json`, `report`, `resume` and an export made
later, in a shell without that variable, never show the value. What a run passes follows from
its journaled plan and repo config; which of those names carry a value comes from the launcher's
environment, told by the `passed` function the journal's opener gives (agents/passed_env.py's
`plan_secrets`: the store layer does not know the adapters)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from launcher.models.redact import mask, mask_contract

Passed = Callable[[Any], Mapping[str, str]]  # the run's plan and config (JSON) -> value -> name


class RunMasks:
    """Per run, the value -> name of what it passed, read once from its row."""

    def __init__(self, passed: Passed | None) -> None:
        self._passed = passed
        self._by_run: dict[str, Mapping[str, str]] = {}

    def of(self, db: sqlite3.Connection, run_id: str) -> Mapping[str, str]:
        if self._passed is None:
            return {}
        if run_id not in self._by_run:
            row = db.execute("SELECT plan_json, settings_json FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                return {}  # not journaled yet: nothing of it to mask
            self._by_run[run_id] = self._passed({"plan": _loaded(row["plan_json"]),
                                                 "settings": _loaded(row["settings_json"])})
        return self._by_run[run_id]

    def text(self, db: sqlite3.Connection, run_id: str, text: str | None, *, commands: bool = False) -> str | None:
        """`text` masked; `commands`: a message or note of the launcher's, whose code spans are
        commands to copy (a value there shown as `${NAME}`: models/redact.py)."""
        return mask(text, self.of(db, run_id), commands=commands) if text else text

    def fields(self, db: sqlite3.Connection, run_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A task's fields with the agent's text in them masked: its message and its contract's
        prose. Never what the launcher compares or acts on: the contract's files and ids
        (`mask_contract`), the task's files, branch, commits."""
        secrets = self.of(db, run_id)
        if not secrets:
            return fields
        masked = dict(fields)
        if isinstance(masked.get("message"), str):
            masked["message"] = mask(masked["message"], secrets, commands=True)
        if "contract" in masked:
            masked["contract"] = mask_contract(masked["contract"], secrets)
        return masked


def _loaded(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
