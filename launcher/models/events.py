"""The one event type that flows up from the engine to the UI."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from launcher.models.states import TaskState


@dataclass(frozen=True)
class Event:
    run_id: str
    task_id: str | None
    kind: str  # "state" | "output" | "note" | "run" | "recorded" (the run is journaled; not shown)
    state: TaskState | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
