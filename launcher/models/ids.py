"""Identifiers that become paths and branch names: validated before anything touches disk."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

TASK_ID_PATTERN = r"[a-z0-9][a-z0-9._-]{0,63}"
_TASK_ID = re.compile(TASK_ID_PATTERN)
_RUN_ID = re.compile(r"r-\d{8}-\d{6}-[0-9a-f]{4}")


def task_id_problem(value: object) -> str | None:
    """Why `value` is not a valid task id, or None when it is."""
    if not isinstance(value, str):
        return "a task id must be a string"
    if not _TASK_ID.fullmatch(value):
        return (
            f"task id {value!r} must match {TASK_ID_PATTERN} "
            "(lowercase letters, digits, '.', '_', '-'; at most 64 characters)"
        )
    # The id becomes a path component and part of a git ref name.
    if ".." in value or value.endswith((".", ".lock")):
        return f"task id {value!r} may not contain '..' nor end with '.' or '.lock'"
    return None


def is_run_id(value: str) -> bool:
    return bool(_RUN_ID.fullmatch(value))


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"r-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
