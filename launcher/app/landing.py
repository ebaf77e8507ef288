"""Landing approved branches: dependency order, in-memory merges, one compare-and-swap.

The merged result is computed without touching any ref; the journal records the intended new
tip *before* the target moves, and each later step before it runs, so a crash at any point is
finished or reported on resume (`landing_recovery`) and nothing lands twice.
"""

from __future__ import annotations

from pathlib import Path

from launcher.app import tree_commands
from launcher.app.context import RunContext
from launcher.app.epics import blocked_epics, epic_members
from launcher.app.grading import approval_holds
from launcher.app.landing_recovery import journal_steps, recover_landing, unlanded_work
from launcher.gates.ledgers import TECH_DEBT_FILE
from launcher.git import merge, worktrees
from launcher.models.states import TaskState


def landing_order(ctx: RunContext) -> list[str]:
    """Topological by depends_on, ties broken by plan order."""
    order: list[str] = []
    placed: set[str] = set()
    pending = [task.id for task in ctx.plan.tasks]
    while pending:
        for task_id in pending:
            if all(dep in placed for dep in ctx.plan.task(task_id).depends_on):
                order.append(task_id)
                placed.add(task_id)
                pending.remove(task_id)
                break
        else:  # cycles are rejected when the plan is loaded
            order.extend(pending)
            break
    return order


async def _target_tip(ctx: RunContext) -> str:
    found = await ctx.repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{ctx.target}", check=False)
    return found.out.strip() if found.ok else ctx.base_sha


async def land_approved(ctx: RunContext) -> tuple[bool, str]:
    """Land every approved task; returns (all approved work is on the target, message)."""
    recovered = await recover_landing(ctx)
    if recovered is not None:
        await cleanup_merged(ctx)
    reached, message = recovered or await _land(ctx)
    unlanded = await unlanded_work(ctx) if reached else None
    return (False, unlanded) if unlanded else (reached, message)


async def _land(ctx: RunContext) -> tuple[bool, str]:
    expected_old = await _target_tip(ctx)
    tip = expected_old
    landed: dict[str, str] = {}
    check = tree_commands.integration_check(ctx)
    failed_to_land: set[str] = set()
    members = epic_members([t.model_dump() for t in ctx.plan.tasks])
    held = blocked_epics(ctx.journal.tasks(ctx.run_id), members)
    for task_id in landing_order(ctx):
        row = ctx.journal.task(ctx.run_id, task_id)
        if row.state is not TaskState.APPROVED or not row.branch or not row.head_sha:
            if row.state is not TaskState.MERGED:
                failed_to_land.add(task_id)
            continue
        spec = ctx.plan.task(task_id)
        # A best-of-N task's "dependencies" are its own attempts, settled by selection.
        deps = [] if spec.select_from else spec.depends_on
        blocker = next((d for d in deps if d in failed_to_land), None)
        if blocker:
            ctx.transition(task_id, TaskState.SKIPPED,
                           f"not landed: its dependency {blocker!r} did not land; branch kept")
            failed_to_land.add(task_id)
            continue
        if members.get(task_id) in held:  # half an epic never lands
            epic = members[task_id]
            ctx.transition(task_id, TaskState.SKIPPED,
                           f"not landed: its epic {epic!r} is blocked ({held[epic]}); branch kept")
            failed_to_land.add(task_id)
            continue
        withdrawn = await approval_holds(ctx, task_id)
        if withdrawn:
            ctx.transition(task_id, TaskState.BLOCKED, withdrawn)
            failed_to_land.add(task_id)
            continue
        task = ctx.plan.task(task_id)
        candidate = merge.Candidate(
            task_id=task_id, branch=row.branch, head=row.head_sha,
            message=f"Merge {task.title or task_id} ({row.branch})",
            trailers={"Launcher-Run": ctx.run_id, "Launcher-Task": task_id,
                      "Launcher-Agent": task.agent, "Launcher-Verdict": "approved"},
            forbidden_paths=row.included, forbidden_blobs=row.included_blobs,
        )
        tip, results = await merge.land_queue(
            ctx.repo, tip=tip, candidates=[candidate], strategy=ctx.plan.run.strategy,
            integration_check=check,
        )
        result = results[0]
        if result.outcome == "landed" and result.commit:
            landed[task_id] = result.commit
            continue
        failed_to_land.add(task_id)
        if result.outcome == "conflicted":
            ctx.transition(task_id, TaskState.CONFLICTED,
                           f"conflicts with {ctx.target} in {', '.join(result.conflict_files)}; branch kept")
        elif result.outcome == "refused":
            ctx.transition(task_id, TaskState.FAILED, f"refused at merge: {result.details}")
        else:
            ctx.transition(task_id, TaskState.FAILED, f"integration check failed: {result.details[-300:]}")
    if not landed:
        return True, "nothing to land"
    ctx.journal.record_landing(ctx.run_id, target=ctx.target, expected_old=expected_old,
                               new_tip=tip, tasks=landed)
    advanced = await merge.advance_target(
        ctx.repo, target_branch=ctx.target, new=tip, expected_old=expected_old,
        integration_branch=worktrees.integration_branch(ctx.run_id), on_step=journal_steps(ctx),
        tolerated=frozenset({TECH_DEBT_FILE}),  # the launcher's own tech-debt rows, e.g. mid-run
    )
    where = advanced.where
    for task_id, commit in landed.items():
        ctx.transition(task_id, TaskState.MERGED, f"landed on {where}", merged=True, merge_commit=commit)
    ctx.journal.set_run(ctx.run_id, landed_on=where)
    ctx.journal.finish_landing(ctx.run_id)
    await cleanup_merged(ctx)
    return where == ctx.target, advanced.message


async def cleanup_merged(ctx: RunContext) -> None:
    """Merged work is in history now: its worktree and branch go (all at once)."""
    doomed = [
        (Path(row.worktree) if row.worktree else ctx.worktree_path(row.task_id), row.branch)
        for row in ctx.journal.tasks(ctx.run_id)
        if row.state is TaskState.MERGED and (row.worktree or row.branch)
    ]
    await worktrees.remove_worktrees(ctx.repo, doomed)
