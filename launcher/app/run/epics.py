"""Epics: tasks that land together or not at all.

An epic whose decision is `block` (one of its tasks failed, was blocked, escalated, timed out,
conflicted or was skipped for a failure) holds every other task of the epic back from landing:
half an epic never merges. Best-of-N attempts are not members in their own right: their
selecting task stands for them (it carries the winner's branch and files).
"""

from __future__ import annotations

from typing import Any

from launcher.models.states import TaskState
from launcher.store.journal import TaskRow

BLOCKING_STATES = {
    TaskState.BLOCKED, TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CONFLICTED,
    TaskState.CANCELLED, TaskState.ESCALATED,
}


def epic_members(plan_tasks: list[dict[str, Any]]) -> dict[str, str]:
    """task id -> epic, for the tasks that count as members (attempts excluded)."""
    attempts = {a for t in plan_tasks for a in (t.get("select_from") or [])}
    return {t["id"]: t["epic"] for t in plan_tasks if t.get("epic") and t["id"] not in attempts}


def blocks(row: TaskRow) -> bool:
    return row.state in BLOCKING_STATES or (row.state is TaskState.SKIPPED and not row.succeeded)


def blocked_epics(rows: list[TaskRow], members: dict[str, str]) -> dict[str, str]:
    """epic -> why it is blocked (its first blocking task), for the epics that are."""
    blocked: dict[str, str] = {}
    for row in rows:
        epic = members.get(row.task_id)
        if epic and epic not in blocked and blocks(row):
            blocked[epic] = f"task {row.task_id!r} is {row.state.value}"
    return blocked
