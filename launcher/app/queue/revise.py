"""The rounds of work the queue sent back, run like any revision round: the task's own
worktree, the feedback the queue wrote, then checks, grading and approval as usual."""

from __future__ import annotations

import anyio

from launcher.app.context import RunContext
from launcher.app.run.pipeline import run_task


async def revise_returned(ctx: RunContext, task_ids: list[str]) -> None:
    limiter = anyio.CapacityLimiter(ctx.plan.run.max_parallel)

    async def one(task_id: str) -> None:
        async with limiter:
            await run_task(ctx, task_id)

    async with anyio.create_task_group() as group:
        for task_id in task_ids:
            group.start_soon(one, task_id)
