"""TECHNICAL_DEBT.md rows for a run's decisions: one row per decision (`choose TASK tech-debt`,
or `--on-cap tech-debt` for a task), each saying who decided and why."""

from __future__ import annotations

from launcher.app.context import RunContext
from launcher.gates.ledgers import TECH_DEBT_FILE, add_tech_debt, tech_debt_rows
from launcher.models.states import TaskState


def decisions(ctx: RunContext, task_id: str) -> int:
    """How many times the journal says this run's task was closed as technical debt."""
    return sum(1 for _from, to, _message, _at in ctx.journal.history(ctx.run_id, task_id)
               if to == TaskState.TECH_DEBT.value)


def has_row(ctx: RunContext, task_id: str) -> bool:
    """Whether the ledger holds a row for each tech-debt decision journaled for this task (an
    attempt of a best-of task closed by `--on-cap tech-debt` has none: its task's row says it)."""
    return tech_debt_rows(ctx.repo.root, ctx.run_id, task_id) >= decisions(ctx, task_id)


def record_tech_debt(ctx: RunContext, task_id: str, failing: list[str], note: str) -> None:
    """The row for a decision about to be journaled (the row first: a crash in between leaves the
    task escalated, so the decision is made again). A row the ledger already holds beyond the
    decisions journaled is that decision's, written before the crash: it is not written twice."""
    ctx.reported_intrusions.add(TECH_DEBT_FILE)  # our own write, not an agent's
    row = add_tech_debt(ctx.repo.root, run_id=ctx.run_id, task_id=task_id, failing=failing, note=note,
                        rows_before=decisions(ctx, task_id))
    if row is None:
        ctx.note(task_id, f"{TECH_DEBT_FILE} already has the row for this decision (written by a launcher "
                          "stopped before it recorded the decision): not written again")
