"""A dependent of a best-of-N task that switched attempts: rebuilt on the attempt that lands.

A dependent starts from its dependencies' work (provision.start_point), so a dependent of a
best-of-N task is built on the attempt selected first. When that attempt does not land (it
breaks the integration check, or conflicts) and the next approved attempt lands as the task
instead (`best_of.runner_up`), the dependent's branch still holds the switched-out attempt's
commits: landed as it is, they would reach the target through it ("an attempt never lands by
itself"), and a check they break would be blamed on the dependent. So its own commits
(start..head) are replayed onto its new start, as a squash or rebase lands them; its
dependents in turn onto its new head. A dependent whose own change does not apply there is not
landed (failed, its branch kept: `launcher resume RUN --retry-failed` runs it again on the
landed attempt), never landed with the rejected attempt's commits.
"""

from __future__ import annotations

from pathlib import Path

from launcher.app.context import RunContext
from launcher.app.run.grading import change_set_hash
from launcher.app.run.provision import start_point
from launcher.errors import LauncherError
from launcher.git import merge, worktrees
from launcher.models.states import TaskState


async def rebuild_dependents(ctx: RunContext, task_id: str, old_head: str, said: str) -> list[str]:
    """Every approved task depending (transitively) on `task_id` whose branch holds `old_head`
    (the attempt `task_id` no longer lands) gets its own commits replayed onto its dependencies'
    current work. Returns the tasks rebuilt (or failed because they could not be)."""
    moved = {task_id}
    done: list[str] = []
    for task in ctx.plan.tasks:  # plan order: a dependency is rebuilt before its dependents
        if task.select_from or not moved.intersection(task.depends_on):
            continue
        row = ctx.journal.task(ctx.run_id, task.id)
        if row.state is not TaskState.APPROVED or not row.branch or not row.head_sha or not row.start_sha:
            continue
        if not await ctx.repo.is_ancestor(old_head, row.head_sha):
            continue
        moved.add(task.id)
        done.append(task.id)
        await _rebuild(ctx, task.id, said)
    return done


async def _rebuild(ctx: RunContext, task_id: str, said: str) -> None:
    row = ctx.journal.task(ctx.run_id, task_id)
    assert row.branch and row.head_sha and row.start_sha
    try:
        new_start = await start_point(ctx, ctx.plan.task(task_id))
    except LauncherError as error:
        landing = merge.Landing(task_id, "conflicted", None, [], str(error))
    else:
        candidate = merge.Candidate(task_id=task_id, branch=row.branch, head=row.head_sha, message=row.branch,
                                    forbidden_paths=row.included, forbidden_blobs=row.included_blobs,
                                    start=row.start_sha)
        landing = await merge.merge_commit(ctx.repo, tip=new_start, candidate=candidate, strategy="rebase")
    if row.worktree:  # idle since its approval; made again from the branch if a round needs it
        ctx.idle_trees.forget(task_id)
        await worktrees.remove_worktree(ctx.repo, Path(row.worktree), branch=row.branch)
    if landing.outcome != "landed" or landing.commit is None:
        why = (f"in {', '.join(landing.conflict_files)}" if landing.conflict_files
               else landing.details.splitlines()[0] if landing.details else landing.outcome)
        ctx.transition(task_id, TaskState.FAILED, (
            f"not landed: built on work that does not land ({said}), and its own change does not apply "
            f"onto what lands instead ({why}); branch {row.branch} kept: `launcher resume {ctx.run_id} "
            "--retry-failed` runs it again on it"), worktree=None)
        return
    new_head = landing.commit
    async with ctx.repo.lock.hold():
        await ctx.repo.git("update-ref", f"refs/heads/{row.branch}", new_head, row.head_sha)
    ctx.transition(task_id, TaskState.APPROVED, (
        f"approved; rebuilt on what lands instead ({said}): its own commits replayed, "
        f"{row.head_sha[:12]} -> {new_head[:12]}"),
        worktree=None, start_sha=new_start, head_sha=new_head,
        approval_hash=await change_set_hash(ctx, new_start, new_head))
