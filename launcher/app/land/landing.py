"""Landing approved branches: dependency order, in-memory merges, one compare-and-swap.

The merged result is computed without touching any ref; the journal records the intended new
tip *before* the target moves, and each later step before it runs, so a crash at any point is
finished or reported on resume (`landing_recovery`) and nothing lands twice.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from launcher.app.context import RunContext
from launcher.app.land.landed_attempt import report_landed_attempts
from launcher.app.land.origin import origin_trailers
from launcher.app.land.recovery import (
    approved_by_grader,
    journal_steps,
    mark_landed,
    recover_landing,
    unlanded_work,
)
from launcher.app.land.shard_landed import OnTarget
from launcher.app.queue import send_back
from launcher.app.queue.batches import BROKEN_TIP, QueueResult
from launcher.app.queue.land_pass import Step, land_ready, settle_refolds, withdraw_culprits, write_steps
from launcher.app.queue.revise import revise_returned
from launcher.app.run import best_of, containment, git_watch, idle_change, pool, rebuild, resolution, tree_commands
from launcher.app.run.epics import blocked_epics, epic_members
from launcher.app.run.grading import approval_holds, branch_tips
from launcher.errors import FoldLost
from launcher.gates.check_summary import failure_line
from launcher.gates.ledgers import TECH_DEBT_FILE
from launcher.git import merge, ref_updates, scratch, target_advance, worktrees
from launcher.git.commits import ATTEMPT
from launcher.models.states import TaskState
from launcher.store import own_files


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


Guard = Callable[[], Coroutine[Any, Any, None]]


async def land_approved(ctx: RunContext, guard: Guard | None = None,
                        recovered: tuple[bool, str] | None = None) -> tuple[bool, str]:
    """Land every approved task; returns (all approved work is on the target, message). Work
    the queue sends back (a culprit of the integration check, a conflict with
    `on_conflict = "agent"`) gets its round and is landed in a further pass.

    `guard` (the containment check of the approved worktrees, which may fail a task) runs
    before anything lands: alongside the first pass's in-memory fold when there is no
    integration check, and that fold is thrown away and made again if the guard failed one of
    its tasks. `recovered`: what the caller's own `recover_landing` finished (resume does that
    before anything else, so the main work tree is whole before it is snapshotted)."""
    recovered = recovered or await recover_landing(ctx)
    if recovered is not None:
        if guard is not None:
            await guard()
        await cleanup_merged(ctx)
        reached, message = recovered
        if (record := ctx.journal.landing(ctx.run_id)) is not None and not record["done"]:
            # The main work tree is still behind the target (the recovery says what to run): a
            # further pass would fold onto it, and its tasks are not recorded as landed yet.
            return reached, message
        # The interrupted pass journaled only what it landed: approved tasks it could not land
        # (a conflict, a culprit) were never marked, so they get a pass of their own now.
        more_reached, more = await _land(ctx)
        if more != "nothing to land":  # it folded all approved work again: its outcome is the landing's
            reached, message = more_reached, more
    else:
        reached, message = await _land(ctx, guard)
    while returned := [r.task_id for r in ctx.journal.tasks(ctx.run_id)
                       if r.state is TaskState.NEEDS_REVISION]:
        await revise_returned(ctx, returned)
        if all(ctx.journal.task(ctx.run_id, t).state is TaskState.NEEDS_REVISION for t in returned):
            break  # no round made progress: never loop
        more_reached, more = await _land(ctx)
        if more != "nothing to land":
            # Each pass folds all approved work, parked work too: a pass that lands it all
            # clears an earlier pass's park (the outcome says where the work is now).
            reached, message = more_reached, more
    unlanded = await unlanded_work(ctx) if reached else None
    # An integration check's scratch worktree a killed launcher left (the resumed pass folds
    # anew: new commits, other paths) is gone once the landing is.
    await scratch.remove_scratch(ctx.repo, ctx.worktree_root / ctx.run_id, (worktrees.INTEGRATION,))
    return (False, unlanded) if unlanded else (reached, message)


RACES = 3  # landing passes made again when the target moved under one (then it parks)


async def _land(ctx: RunContext, guard: Guard | None = None, races_left: int = RACES) -> tuple[bool, str]:
    await git_watch.settle(ctx, "before the landing's merges")  # they read its attributes and config
    # A dependent built on a best-of-N attempt that does not land: rebuilt on the one that does.
    await rebuild.rebuild_stale(ctx, landing_order(ctx))
    expected_old = await _target_tip(ctx)
    check = tree_commands.integration_check(ctx)
    failed_to_land: set[str] = set()
    members = epic_members([t.model_dump() for t in ctx.plan.tasks])
    held = blocked_epics(ctx.journal.tasks(ctx.run_id), members)
    ready: list[merge.Candidate] = []
    tips = await branch_tips(ctx.repo, f"{worktrees.BRANCH_PREFIX}/{ctx.run_id}/")
    shard_tasks, landed_elsewhere = OnTarget.of(ctx, expected_old), False
    for task_id in landing_order(ctx):
        row = ctx.journal.task(ctx.run_id, task_id)
        if row.state is not TaskState.APPROVED or not row.branch or not row.head_sha:
            if not row.succeeded or row.state is TaskState.APPROVED:  # nothing to land is fine
                failed_to_land.add(task_id)
            continue
        if any(task_id in other.select_from for other in ctx.plan.tasks):
            continue  # a best-of-N attempt lands only as its task, once the selection picked it
        # Another land of the same shard's task may have put it on the target since this run
        # was approved (two `land --from` at once, `land RUN` beside one): decided against the
        # tip this pass's swap expects, so what lands after it makes the swap fail and the pass again.
        if shard_tasks is not None and (found := await shard_tasks.find(row)):
            ctx.transition(task_id, TaskState.MERGED, found.message, merged=True, merge_commit=found.commit)
            await report_landed_attempts(ctx.repo, ctx.journal, ctx.run_id, ctx.plan, [], only=task_id)
            landed_elsewhere = True
            continue
        if shard_tasks is not None and (why := await shard_tasks.refusal(row)):
            ctx.transition(task_id, TaskState.FAILED, f"{why}; branch kept")
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
        withdrawn = await approval_holds(ctx, task_id, tips)
        if withdrawn and await containment.put_back_idle(ctx, task_id):
            withdrawn = await approval_holds(ctx, task_id)  # its branch moved while idle: put back
        if withdrawn:
            ctx.transition(task_id, TaskState.BLOCKED, withdrawn)
            failed_to_land.add(task_id)
            continue
        task = ctx.plan.task(task_id)
        attempt = best_of.selected_attempt(ctx, task_id)  # a best-of-N task lands one of its attempts
        agent = (attempt or task).agent  # whose work lands: the attempt's
        ready.append(merge.Candidate(
            task_id=task_id, branch=row.branch, head=row.head_sha,
            message=f"Merge {task.title or task_id} ({row.branch})",
            trailers={"Launcher-Run": ctx.run_id, "Launcher-Task": task_id, "Launcher-Agent": agent,
                      "Launcher-Verdict": "approved" if approved_by_grader(ctx, task_id) else "approved-by-choice",
                      **({ATTEMPT: attempt.id} if attempt else {}), **origin_trailers(ctx, task_id)},
            forbidden_paths=row.included, forbidden_blobs=row.included_blobs,
            resolution=resolution.left_conflicted(ctx, task_id), start=row.start_sha,
        ))
    if landed_elsewhere:
        await cleanup_merged(ctx)  # its worktree (a clone that ran the shard) and branch, if still here
    if guard is not None and (check is not None or not ready):
        await guard()  # an integration check dwarfs the guard: no need to overlap them
        guard = None
    if not ready:
        return True, "nothing to land"
    try:
        if guard is not None:
            folded = await _fold_guarded(ctx, expected_old, ready, guard)
            if folded is None:  # the guard failed a task of this fold: fold what is still approved
                return await _land(ctx)
            result, skipped = folded
        else:
            result, skipped = await land_ready(ctx, expected_old, ready, check)
        result, skipped, pulled = await _whole_epics(ctx, expected_old, ready, check, members, result, skipped)
    except FoldLost as lost:  # its commits were pruned while its checks ran: fold anew
        if races_left <= 0:
            raise
        ctx.note(None, f"{lost.what}: folding the approved work again")
        return await _land(ctx, races_left=races_left - 1)
    tip, landed = result.tip, {t: result.landed[t] for t in landing_order(ctx) if t in result.landed}
    if races_left > 0 and await _target_tip(ctx) != expected_old:
        # The target moved while the fold was checked (a teammate's commit, another run): what
        # the pass found (a culprit, a conflict, a tip that fails) was judged against a tip that
        # is no longer the target's. Nothing of it is settled: fold again onto the new tip.
        return await _refold(ctx, races_left, result)
    reached, message, raced = True, "nothing to land", False
    if landed:
        reached, message, raced = await _advance(ctx, expected_old, tip, landed, races_left > 0)
    if raced and races_left > 0:  # moved between the look above and the compare-and-swap
        return await _refold(ctx, races_left, result)
    # A round sent back starts from what is on the target: the fold when it landed, else (it
    # was parked, or the target moved under it) the target as it is, never unlanded work.
    on_target = tip if reached else await _target_tip(ctx)
    waiting: set[str] = set()
    for task_id, landing in result.failed.items():
        if landing.details.startswith(BROKEN_TIP):  # not its fault: it stays approved
            ctx.transition(task_id, TaskState.APPROVED, landing.details.splitlines()[0]
                           + f" `launcher land` lands it once {ctx.target} passes the check")
        elif await _not_landed(ctx, task_id, landing, on_target):
            waiting.add(task_id)
    # A best-of-N task that takes its next approved attempt instead is approved again: a further pass.
    switched = {t for t in waiting if ctx.journal.task(ctx.run_id, t).state is TaskState.APPROVED}
    held_back = {t for t, landing in result.failed.items() if landing.details.startswith(BROKEN_TIP)}
    for task_id, blocker in skipped.items():
        if blocker in held_back:
            held_back.add(task_id)
            ctx.transition(task_id, TaskState.APPROVED, f"not landed: waits for its dependency "
                           f"{blocker!r}, held back because the check fails on {ctx.target} itself")
            continue
        if blocker in waiting:  # its dependency is back with its agent: the next pass decides
            waiting.add(task_id)
            ctx.note(task_id, f"waits for its dependency {blocker!r}, " + (
                "which lands another of its attempts" if blocker in switched
                else f"which waits for its own dependency {skipped[blocker]!r}" if blocker in skipped
                else "sent back to its agent"))
            continue
        ctx.transition(task_id, TaskState.SKIPPED,
                       f"not landed: its dependency {blocker!r} did not land; branch kept")
    _settle_pulled(ctx, members, pulled)
    if result.broken_tip is not None:
        return False, (f"the integration check fails on {ctx.target} ({expected_old[:12]}) itself, "
                       f"so no task was blamed for it and the tasks it held back stay approved: fix "
                       f"{ctx.target}, then run `launcher land`. Its output:\n{result.broken_tip[-1500:]}")
    if switched:
        more_reached, more = await _land(ctx, races_left=races_left)
        if more != "nothing to land":
            return more_reached, more
    return reached, message


async def _refold(ctx: RunContext, races_left: int, result: QueueResult) -> tuple[bool, str]:
    """Another run landed, or the user committed, while the pass folded and checked: fold the
    (still approved) work again onto the new tip, check and land it; culprits and conflicts are
    settled only by a pass whose tip is still the target's (this pass's culprits are withdrawn)."""
    withdraw_culprits(ctx, result, f"judged while {ctx.target} moved")
    ctx.note(None, f"{ctx.target} moved while landing: folding the approved work onto its new tip")
    return await _land(ctx, races_left=races_left - 1)


async def _whole_epics(
    ctx: RunContext, tip: str, ready: list[merge.Candidate], check: merge.IntegrationCheck | None,
    members: dict[str, str], result: QueueResult, skipped: dict[str, str],
) -> tuple[QueueResult, dict[str, str], dict[str, str]]:
    """An epic lands whole or not at all: when a member of an epic does not land in this pass
    (a conflict, a culprit of the check, a dependency that did not land), its members the fold
    did land are taken out again and the rest folded anew, before the target moves; until no
    epic is left half in. Returns the final fold, and each member taken out -> why. A member's
    failure found in an earlier fold is kept (it goes back to its agent, or fails, as usual)."""
    pulled: dict[str, str] = {}
    failures = dict(result.failed)
    folds = [result]
    while True:
        missing = {c.task_id for c in ready if c.task_id not in result.landed}
        broken = {members[t]: t for t in sorted(missing) if t in members}
        out = {c.task_id for c in ready if c.task_id in result.landed and members.get(c.task_id) in broken}
        if not out:
            break
        for task_id in out:
            epic = members[task_id]
            pulled[task_id] = f"its epic {epic!r} does not land whole: task {broken[epic]!r} did not land"
        rest = [c for c in ready if c.task_id not in pulled]
        result, skipped = await land_ready(ctx, tip, rest, check)
        folds.append(result)
        failures.update({t: f for t, f in result.failed.items() if t not in failures})
    # Failures of the members taken out (found in an earlier fold) are settled like any other.
    result.failed.update({t: f for t, f in failures.items()
                          if t not in result.failed and t not in result.landed})
    settle_refolds(ctx, folds, result)  # a culprit of a fold thrown away is none
    for task_id in result.failed:
        pulled.pop(task_id, None)
    return result, skipped, pulled


def _settle_pulled(ctx: RunContext, members: dict[str, str], pulled: dict[str, str]) -> None:
    """A member taken out of the landing waits, approved, while the member that kept its epic
    out is back with its agent; once the epic is blocked, it is not landed (branch kept)."""
    if not pulled:
        return
    held = blocked_epics(ctx.journal.tasks(ctx.run_id), members)
    for task_id, why in pulled.items():
        epic = members[task_id]
        if epic in held:
            ctx.transition(task_id, TaskState.SKIPPED,
                           f"not landed: its epic {epic!r} is blocked ({held[epic]}); branch kept")
        else:
            ctx.transition(task_id, TaskState.APPROVED, f"not landed yet: {why}; it lands with it")


async def _fold_guarded(
    ctx: RunContext, tip: str, ready: list[merge.Candidate], guard: Guard
) -> tuple[QueueResult, dict[str, str]] | None:
    """The fold of `ready` (no integration check) and `guard`, at the same time; None if the
    guard took a task of the fold away from `approved` (nothing of the fold is journaled)."""
    held: list[Step] = []
    folded: list[tuple[QueueResult, dict[str, str]]] = []

    async def fold() -> None:
        folded.append(await land_ready(ctx, tip, ready, None, held))

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(fold)
            group.start_soon(guard)
    except BaseExceptionGroup as failed:  # the fold's own error (git cannot sign, say), as raised
        if len(failed.exceptions) == 1 and not isinstance(failed.exceptions[0], BaseExceptionGroup):
            raise failed.exceptions[0] from None
        raise
    if any(ctx.journal.task(ctx.run_id, c.task_id).state is not TaskState.APPROVED for c in ready):
        return None
    write_steps(ctx, held)
    return folded[0]


async def _advance(ctx: RunContext, expected_old: str, tip: str,
                   landed: dict[str, str], refold_on_race: bool = False) -> tuple[bool, str, bool]:
    """Move the target (or park); (reached the target, what happened, parked only because the
    target moved under the landing). `refold_on_race`: a park only because the target moved is
    not reported (the caller folds again onto the new tip)."""
    ctx.journal.record_landing(ctx.run_id, target=ctx.target, expected_old=expected_old,
                               new_tip=tip, tasks=landed)
    advanced = await target_advance.advance_target(
        ctx.repo, target_branch=ctx.target, new=tip, expected_old=expected_old,
        integration_branch=worktrees.integration_branch(ctx.run_id), on_step=journal_steps(ctx),
        # The launcher's own writes, e.g. mid-run: tech-debt rows, a `mutation label`'s label
        tolerated=frozenset({TECH_DEBT_FILE}) | own_files.launcher_contents(ctx.repo.root),
        intrusions=ctx.intrusions_left,
        unseen_staged=ctx.main_staged.still_unsure if ctx.main_staged else frozenset,
        settle=partial(git_watch.settle, ctx, "before landing", locked=True),
    )
    if advanced.tree_behind:
        # On the target but not in the main work tree (its update failed, and so did putting the
        # target back): not `merged` yet, and the landing stays unfinished, its journal saying
        # the tree must catch up, so `resume`/`land` finishes it (recovery.recover_landing).
        return False, advanced.message, False
    where = advanced.where
    if not (advanced.raced and refold_on_race):
        mark_landed(ctx, landed, where)
        ctx.journal.set_run(ctx.run_id, landed_on=where)
    ctx.journal.finish_landing(ctx.run_id)
    await cleanup_merged(ctx)
    return where == ctx.target, advanced.message, advanced.raced


async def _not_landed(ctx: RunContext, task_id: str, landing: merge.Landing, tip: str) -> bool:
    """A conflict or a culprit goes back to its agent when the queue allows (True); else it is
    kept or failed, as without a queue."""
    if landing.outcome == "conflicted":
        if await send_back.return_conflict(ctx, task_id, landing, tip):
            return True
        if send_back.on_conflict(ctx) == "agent" and await best_of.runner_up(
                ctx, task_id, f"conflicts with {ctx.target} in {', '.join(landing.conflict_files)}"):
            return True  # a best-of-N task (no rounds of its own): its next approved attempt
        ctx.transition(task_id, TaskState.CONFLICTED,
                       f"conflicts with {ctx.target} in {', '.join(landing.conflict_files)}; branch kept")
    elif landing.outcome == "refused":
        ctx.transition(task_id, TaskState.FAILED, f"refused at merge: {landing.details}")
    elif send_back.return_culprit(ctx, task_id, landing, tip):
        return True
    elif await best_of.runner_up(ctx, task_id, "breaks the integration check"):
        return True  # a best-of-N task (no rounds of its own): its next approved attempt
    else:
        head, _, output = landing.details.partition("\n")  # "integration check failed on <sha>:"
        ctx.transition(task_id, TaskState.FAILED, f"{head} {failure_line(output, 300) or '(no output)'}")
    return False


async def cleanup_merged(ctx: RunContext) -> None:
    """Merged work is in history now: its worktree and branch go (all at once)."""
    merged = [row for row in ctx.journal.tasks(ctx.run_id)
              if row.state is TaskState.MERGED and (row.worktree or row.branch)]
    for row in merged:
        ctx.idle_trees.forget(row.task_id)  # removed by the launcher, not by another task
    doomed = [(Path(row.worktree) if row.worktree else ctx.worktree_path(row.task_id), row.branch) for row in merged]
    await pool.recycle(ctx, doomed)  # with `[run] warm_pool`: kept for the next run, not deleted
    undeleted: list[str] = []
    left = await worktrees.remove_worktrees(ctx.repo, doomed, undeleted)
    for line in undeleted:  # the work is on the target; the directory could not be deleted
        ctx.note(None, line)
    for branch, where in sorted(left.items()):
        ctx.note(None, f"branch {branch} (merged) is kept: it is checked out in {where}, which "
                       "the launcher did not put there; `launcher clean` removes both")
    # The commits merged tasks kept in case their branch was deleted are on the target now.
    kept = {idle_change.idle_head_ref(ctx.run_id, row.task_id) for row in ctx.journal.tasks(ctx.run_id)
            if row.state is TaskState.MERGED}
    async with ctx.repo.lock.hold():
        listed = await ctx.repo.git("for-each-ref", "--format=%(refname)", f"refs/launcher/{ctx.run_id}/")
        await ref_updates.delete_refs(ctx.repo, sorted(kept & set(listed.out.split())))
