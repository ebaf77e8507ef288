"""What keeps an agent inside its worktree, checked around every agent round.

At run start (and resume) the shared git directory is snapshotted; after each agent or grader
round, anything the agent changed there is undone and fails the task (a `LauncherError`, which
`run_task` turns into the failed state).
"""

from __future__ import annotations

import anyio

from launcher.app.context import RunContext
from launcher.git import guard


async def start(ctx: RunContext) -> None:
    """Snapshot what agents must not change; called when a run starts or resumes."""
    ctx.git_dir_snapshot = await anyio.to_thread.run_sync(guard.take_snapshot, ctx.repo.common_dir)


async def after_round(ctx: RunContext, task_id: str, who: str = "the agent") -> None:
    """Undo an agent's changes to the shared git directory and fail its task."""
    snapshot = ctx.git_dir_snapshot
    if snapshot is None:
        return
    async with ctx.repo.lock.hold():
        await anyio.to_thread.run_sync(guard.undo_tampering, snapshot, f"{who} of task {task_id}")
