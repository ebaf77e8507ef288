"""The journal's rows as the launcher reads them back: a run (`RunRow`) and a task (`TaskRow`),
each column decoded and checked (store/rows.py) as it is read. The caller (store/journal.py)
reads them inside `SqliteStore.decoding`, so a value the launcher never writes is the journal's
damage error, never a traceback; a task's JSON column written from unchecked input (a
hand-edited export, an older launcher) is ignored and said in its message instead."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from launcher.models.states import RunStatus, TaskState
from launcher.store import rows as col
from launcher.store.run_claim import held_by_other

NO_CHANGES = "no changes"  # message prefix of a task skipped because it changed nothing
BEST_OF_N = "best-of-N:"  # message prefix of an attempt settled by its task's selection


@dataclass
class RunRow:
    id: str
    repo: str
    base_sha: str
    target: str
    status: RunStatus
    plan: dict[str, Any]
    settings: dict[str, Any]
    launcher_pid: int | None
    message: str
    landed_on: str | None
    created_at: float
    launcher_started: int | None = None  # the launcher's start time (with its pid: the run's claim)
    # The run's own status while a command holds its claim and has changed nothing yet
    # (store/run_claim.py): a `clean` killed in its claim leaves a finished run finished.
    prior_status: RunStatus | None = None
    # An `interrupted` run stopped by an error, not a signal: the code its command exited with
    exit_code: int | None = None
    # Its last status change (its end, once settled): the wall clock, and the boot clock's reading
    updated_at: float = 0.0
    updated_boot: str | None = None
    updated_since_boot: float | None = None

    @property
    def driven_elsewhere(self) -> bool:
        """Another live launcher drives the run now (store/run_claim.py)."""
        return self.status is RunStatus.RUNNING and held_by_other(self.launcher_pid, self.launcher_started)


@dataclass
class TaskRow:
    run_id: str
    task_id: str
    position: int
    state: TaskState
    branch: str | None
    worktree: str | None
    start_sha: str | None
    head_sha: str | None
    merged: bool
    merge_commit: str | None
    cost_usd: float | None
    duration_s: float | None
    iteration: int
    agent_pgid: int | None
    round_base: int
    approval_hash: str | None
    included: list[str]
    included_blobs: dict[str, str]  # object id of a copied include file's content -> its path
    files: list[str]
    contract: dict[str, Any] | None
    message: str
    contract_dir: str | None = None  # the private directory of its agent attempt under way

    @property
    def succeeded(self) -> bool:
        """Approved, landed, or finished with nothing to land."""
        if self.state in (TaskState.APPROVED, TaskState.MERGED):
            return True
        return self.state is TaskState.SKIPPED and self.message.startswith((NO_CHANGES, BEST_OF_N))


def _json_column(row: sqlite3.Row, column: str, kind: type, default: Any, damaged: list[str],
                 item: type | None = None) -> Any:
    """A JSON column's value if it is a `kind` (of `item`s), else `default`, its name noted in
    `damaged`: a row written from input nobody checked (a hand-edited export, an older launcher)
    must not make every later `status` or `runs` fail."""
    text = col.cell(row, column)
    if text is None or text == "":
        return default
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    items = value.values() if isinstance(value, dict) else value
    if value is None and default is None:
        return None
    if isinstance(value, kind) and (item is None or all(isinstance(v, item) for v in items)):
        return value
    damaged.append(column.removesuffix("_json"))
    return default


def run_row(row: sqlite3.Row) -> RunRow:
    """A `runs` row as a RunRow (RowDamaged, store/rows.py, for a value the launcher never writes)."""
    return RunRow(
        id=col.text(row, "id"), repo=col.text(row, "repo"), base_sha=col.text(row, "base_sha"),
        target=col.text(row, "target"), status=col.member(row, "status", RunStatus),
        plan=col.json_of(row, "plan_json", dict), settings=col.json_of(row, "settings_json", dict),
        launcher_pid=col.optional_integer(row, "launcher_pid"), message=col.text(row, "message"),
        landed_on=col.optional_text(row, "landed_on"), created_at=col.number(row, "created_at"),
        launcher_started=col.optional_integer(row, "launcher_started"),
        prior_status=col.optional_member(row, "prior_status", RunStatus),
        exit_code=col.optional_integer(row, "exit_code"), updated_at=col.number(row, "updated_at"),
        updated_boot=col.optional_text(row, "updated_boot"),
        updated_since_boot=col.optional_number(row, "updated_since_boot"),
    )


def task_row(row: sqlite3.Row) -> TaskRow:
    """A `tasks` row as a TaskRow; a damaged JSON column (contract, files...) is ignored and named
    in its message."""
    unusable: list[str] = []
    contract = _json_column(row, "contract_json", dict, None, unusable)
    included = _json_column(row, "included_json", list, [], unusable, str)
    included_blobs = _json_column(row, "included_blobs_json", dict, {}, unusable, str)
    files = _json_column(row, "files_json", list, [], unusable, str)
    message = col.optional_text(row, "message") or ""
    if unusable:  # written by an older launcher from unchecked input: shown, never a traceback
        message += f" (journal: {', '.join(unusable)} of this task damaged, ignored)"
    return TaskRow(
        run_id=col.text(row, "run_id"), task_id=col.text(row, "task_id"), position=col.integer(row, "position"),
        state=col.member(row, "state", TaskState), branch=col.optional_text(row, "branch"),
        worktree=col.optional_text(row, "worktree"), start_sha=col.optional_text(row, "start_sha"),
        head_sha=col.optional_text(row, "head_sha"), merged=bool(col.integer(row, "merged")),
        merge_commit=col.optional_text(row, "merge_commit"), cost_usd=col.optional_number(row, "cost_usd"),
        duration_s=col.optional_number(row, "duration_s"), iteration=col.integer(row, "iteration"),
        agent_pgid=col.optional_integer(row, "agent_pgid"), round_base=col.integer(row, "round_base"),
        approval_hash=col.optional_text(row, "approval_hash"),
        included=included, included_blobs=included_blobs, files=files, contract=contract, message=message.strip(),
        contract_dir=col.optional_text(row, "contract_dir"),
    )
