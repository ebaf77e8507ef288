"""The rounds of work the queue sent back, run like any revision round: the task's own
worktree, the feedback the queue wrote, then checks, grading and approval as usual."""

from __future__ import annotations

from launcher.app.context import RunContext
from launcher.app.run.pipeline import run_task
from launcher.concurrency import each


async def revise_returned(ctx: RunContext, task_ids: list[str]) -> None:
    await each(task_ids, lambda task_id: run_task(ctx, task_id), ctx.plan.run.max_parallel)
