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


async def rebuild_stale(ctx: RunContext, order: list[str]) -> list[str]:
    """Every approved task depending (transitively, `order`: dependencies first) on a best-of-N
    task whose branch holds one of that task's attempts that does not land as it (the task
    lands another attempt) gets its own commits replayed onto its dependencies' current work.
    Returns the tasks rebuilt (or failed because they could not be)."""
    rows = {row.task_id: row for row in ctx.journal.tasks(ctx.run_id)}
    stale: dict[str, tuple[list[str], str]] = {}  # task -> (heads it must not hold, why)
    for task in ctx.plan.tasks:
        own = rows.get(task.id)
        if not task.select_from or own is None or not own.head_sha or not own.state.is_success:
            continue
        attempts = [rows[a] for a in task.select_from if a in rows]
        heads = [a.head_sha for a in attempts if a.head_sha and a.head_sha not in (own.head_sha, a.start_sha)]
        landing = next((a.task_id for a in attempts if a.head_sha == own.head_sha), "another attempt")
        if heads:
            stale[task.id] = (heads, f"{task.id!r} lands {landing}, not the attempt it was built on")
    done: list[str] = []
    for task_id in order:
        task = ctx.plan.task(task_id)
        found = [stale[dep] for dep in task.depends_on if dep in stale]
        if task.select_from or not found:
            continue
        heads = [head for held, _ in found for head in held]
        stale[task_id] = (heads, found[0][1])
        row = rows.get(task_id)
        if row is None or row.state is not TaskState.APPROVED or not (row.branch and row.head_sha and row.start_sha):
            continue
        for head in heads:
            if await ctx.repo.is_ancestor(head, row.head_sha):
                done.append(task_id)
                await _rebuild(ctx, task_id, found[0][1])
                break
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
    if landing.outcome != "landed" or landing.commit is None:
        why = (f"in {', '.join(landing.conflict_files)}" if landing.conflict_files
               else landing.details.splitlines()[0] if landing.details else landing.outcome)
        ctx.transition(task_id, TaskState.FAILED, (
            f"not landed: built on work that does not land ({said}), and its own change does not apply "
            f"onto what lands instead ({why}); branch {row.branch} kept: `launcher resume {ctx.run_id} "
            "--retry-failed` runs it again on it"))
        return
    new_head = landing.commit
    async with ctx.repo.lock.hold():  # only from its approved head: a branch moved since stays (withdrawn)
        moved = await ctx.repo.git("update-ref", f"refs/heads/{row.branch}", new_head, row.head_sha, check=False)
    if not moved.ok:
        return
    if row.worktree:  # idle since its approval; made again from the branch if a round needs it
        ctx.idle_trees.forget(task_id)
        await worktrees.remove_worktree(ctx.repo, Path(row.worktree), branch=row.branch)
    ctx.transition(task_id, TaskState.APPROVED, (
        f"approved; rebuilt on what lands instead ({said}): its own commits replayed, "
        f"{row.head_sha[:12]} -> {new_head[:12]}"),
        worktree=None, start_sha=new_start, head_sha=new_head,
        approval_hash=await change_set_hash(ctx, new_start, new_head))
