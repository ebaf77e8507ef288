"""What a workflow's state offers the operator next, and the state as views show it (`--json`,
MCP): the commands that apply, and whether its runner died mid-phase."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launcher.app.workflow.engine import parked
from launcher.app.workflow.integrity import LOST_WORK
from launcher.app.workflow.runner import interrupted, runner_alive
from launcher.models.workflow import WorkflowState, WorkflowStatus


def offers(state: WorkflowState) -> list[str]:
    """What the operator can do next, as commands."""
    wid = state.id
    if runner_alive(state):
        pause = [f"launcher workflow pause {wid}"] if state.status is WorkflowStatus.RUNNING else []
        return [f"launcher workflow status {wid}", *pause, f"launcher workflow cancel {wid}"]
    if interrupted(state):
        return [f"launcher workflow resume {wid}", f"launcher workflow cancel {wid}"]
    info = parked(state)
    if info:
        return [f"git merge --ff-only {info['branch']}", f"launcher workflow resume {wid}",
                f"launcher workflow next {wid} --skip", f"launcher workflow cancel {wid}"]
    if state.status is WorkflowStatus.PAUSED and state.paused_on:
        return [f"launcher workflow resume {wid} --retry-failed", f"launcher workflow next {wid} --skip",
                f"launcher workflow cancel {wid}"]
    return {
        WorkflowStatus.READY: [f"launcher workflow next {wid}", f"launcher workflow pause {wid}"],
        WorkflowStatus.WAITING_CHECKPOINT: [f"launcher workflow checkpoint {wid} --signal REF"],
        WorkflowStatus.PAUSED: [f"launcher workflow resume {wid}", f"launcher workflow cancel {wid}"],
        WorkflowStatus.RUNNING: [f"launcher workflow status {wid}", f"launcher workflow pause {wid}"],
    }.get(state.status, [])


def state_view(state: WorkflowState, folder: Path | None = None) -> dict[str, Any]:
    data = state.model_dump(mode="json", exclude={"options"})
    data["interrupted"] = interrupted(state)
    # Whether a runner process is at work on it, so the state changes without the client: the one
    # thing a poll waits on. `ready` alone cannot say it: it is both "a runner was just started"
    # and "nothing runs until you call `next`" (after a phase, after a checkpoint).
    data["busy"] = runner_alive(state)
    data["offers"] = offers(state)
    paused = state.status is WorkflowStatus.PAUSED
    data["lost_work"] = list(state.options.get(LOST_WORK) or []) if paused else []  # phases whose work is gone
    if folder is not None:
        data["folder"] = str(folder)
    return data
