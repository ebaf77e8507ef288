"""A clone that ran a shard itself and then lands the exports (`land --from`): the shard run's
own record of its tasks follows what the land did.

The land imports the shard's approved tasks into a run of its own and, having landed them,
deletes their branches and worktrees, which are the shard run's. Left as it was, the shard run
would go on saying `approved, merged: false` at a branch that is gone, and after `launcher
clean` a `launcher land <shard run>` would report `failed - nothing to land` for work that is on
the target. So each of the shard run's tasks this land put on the target (or found there, landed
from this very export) is recorded there as merged, with its landing commit.
"""

from __future__ import annotations

from pathlib import Path

from launcher.git.repo import GitRepo
from launcher.models.states import TaskState
from launcher.store.journal import Journal


async def record_landed_in_shard_runs(repo: GitRepo, journal: Journal, land_run_id: str, target: str,
                                      exported: list[tuple[str, str, str]]) -> None:
    """`exported`: (shard run id, task id, exported head) of each task the land imported from its
    own shard run's export. A shard run this clone's journal does not hold (a CI clone that ran
    no shard) is no concern here."""
    landed = {row.task_id: row.merge_commit for row in journal.tasks(land_run_id)
              if row.state is TaskState.MERGED and row.merged and row.merge_commit}
    for shard_run_id, task_id, head in exported:
        commit = landed.get(task_id)
        row = next((r for r in journal.tasks(shard_run_id) if r.task_id == task_id), None)
        if commit is None or row is None or row.state is not TaskState.APPROVED or row.head_sha != head:
            continue  # not landed, or the shard run's task is no longer what was exported
        journal.transition(
            shard_run_id, task_id, TaskState.MERGED,
            f"landed on {target} by {commit[:12]} (`launcher land --from`, run {land_run_id})",
            merged=True, merge_commit=commit)
        gone: dict[str, None] = {}  # removed by the land: `status` would show them as kept
        if row.branch and not await repo.branch_exists(row.branch):
            gone["branch"] = None
        if row.worktree and not Path(row.worktree).exists():
            gone["worktree"] = None
        if gone:
            journal.update_task(shard_run_id, task_id, **gone)
