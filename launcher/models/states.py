"""Task and run states. The grader relay slots in between `checking` and `approved`."""

from __future__ import annotations

import enum


class TaskState(enum.StrEnum):
    PENDING = "pending"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    COLLECTED = "collected"
    CHECKING = "checking"
    GRADING = "grading"
    NEEDS_REVISION = "needs_revision"
    APPROVED = "approved"
    BLOCKED = "blocked"
    ESCALATED = "escalated"
    MERGED = "merged"
    CONFLICTED = "conflicted"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    TECH_DEBT = "tech_debt"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def is_success(self) -> bool:
        return self in (TaskState.MERGED, TaskState.APPROVED)


FINAL_STATES = frozenset(
    {
        TaskState.MERGED,
        TaskState.CONFLICTED,
        TaskState.FAILED,
        TaskState.TIMED_OUT,
        TaskState.CANCELLED,
        TaskState.SKIPPED,
        TaskState.DEFERRED,
        TaskState.TECH_DEBT,
        TaskState.BLOCKED,
    }
)

# States after which the agent's work is finished and only landing remains.
LANDABLE_STATES = frozenset({TaskState.APPROVED})


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every task landed (or was approved with --no-merge)
    FAILED = "failed"  # some task failed, was blocked or conflicted
    INTERRUPTED = "interrupted"  # stopped part-way; `launcher resume` continues
    # Approved work did not reach the target (kept on the integration branch, or the main work
    # tree could not follow its moved target): the run's message says what to do.
    PARKED = "parked"


_QA_GATE = {
    TaskState.GRADING: "qa-gate-entered",
    TaskState.NEEDS_REVISION: "qa-gate-entered",
    TaskState.APPROVED: "qa-approved",
    TaskState.MERGED: "qa-approved",
    TaskState.BLOCKED: "qa-blocked",
    TaskState.FAILED: "qa-blocked",
    TaskState.TIMED_OUT: "qa-blocked",
    TaskState.CONFLICTED: "qa-blocked",
    TaskState.CANCELLED: "qa-blocked",
    TaskState.ESCALATED: "qa-escalated",
    TaskState.DEFERRED: "qa-deferred",
    TaskState.TECH_DEBT: "qa-deferred",
}


def qa_gate_label(state: TaskState) -> str:
    """The seed's QA gate label for a task state (qa-pending until grading starts)."""
    return _QA_GATE.get(state, "qa-pending")


def rubric_label(last_verdict: str | None) -> str | None:
    """rubric-satisfied / rubric-pending once a grader has answered; None before any round."""
    if last_verdict is None:
        return None
    return "rubric-satisfied" if last_verdict == "satisfied" else "rubric-pending"
