"""What the journal's round records say about a task's grading."""

from __future__ import annotations

from launcher.app.context import RunContext
from launcher.models.verdict import failing_in_audit


def last_failing(ctx: RunContext, task_id: str) -> list[str]:
    """The criteria the task's last verdict failed, from the launcher's own round record in the
    journal (its audit line), never from files in the grading directory, where a grader (or the
    task's agent) may leave anything under any name."""
    for recorded in reversed(ctx.journal.rounds(ctx.run_id, task_id)):
        if recorded["verdict"] is not None:
            return failing_in_audit(recorded["audit"])
    return []
