"""`launcher resume --retry-failed`: run a finished run's failed tasks again from scratch (as
`gh run rerun --failed`), with the tasks that were skipped because of them; done stays done.

A retried task starts over: new worktree and branch from its start point, iteration 0. Its
earlier attempt is not lost: the old head is kept as `refs/launcher/<run>/<task>/failed-<ts>`
and its artifacts move to `.launcher/runs/<run>/_retried/<task>-<ts>/`.
"""

from __future__ import annotations

import itertools
import shutil
import time
from pathlib import Path

from launcher.app.context import RunContext
from launcher.git import worktrees
from launcher.git.unsaved_work import unsaved_work
from launcher.models.states import TaskState
from launcher.store.journal import TaskRow

RETRIED_STATES = frozenset({TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED, TaskState.BLOCKED})
DEPENDENCY_SKIP = "dependency "  # the scheduler's "dependency 'x' did not succeed"
WAITING_SKIP = "waiting: dependency "  # a dependency escalated: a person's choice may still land it
BUDGET_SKIP = "not started: run budget"  # the run's spend reached `--budget-usd` before it started


def reopen_budget_skipped(ctx: RunContext) -> list[str]:
    """Tasks a budget stop never started: pending again, so a `resume` (with a raised
    `--budget-usd`) runs them, and the tasks skipped because of them (`reopen_waiting`). While the
    spend is still past the budget they are skipped again at once, nothing spent; nothing that ran
    is run (or paid for) again."""
    reopened = []
    for row in ctx.journal.tasks(ctx.run_id):
        if row.state is TaskState.SKIPPED and row.message.startswith(BUDGET_SKIP):
            ctx.transition(row.task_id, TaskState.PENDING, "held back by the run's budget: run now")
            reopened.append(row.task_id)
    return reopened


def skip_reason(ctx: RunContext, task_id: str, reason: str) -> str:
    """Why a task does not start: a dependency that waits at escalation is said as such (the task
    runs once a choice lands it), not as one that "did not succeed"."""
    if not reason.startswith(DEPENDENCY_SKIP):
        return reason
    rows = {row.task_id: row for row in ctx.journal.tasks(ctx.run_id)}
    for dep in ctx.plan.task(task_id).depends_on:
        row = rows.get(dep)
        if row is not None and row.state is TaskState.ESCALATED:
            return (f"{WAITING_SKIP}{dep!r} is escalated; this task runs once "
                    f"`launcher choose {ctx.run_id} {dep} approve|continue` lands it")
    return reason


def reopen_waiting(ctx: RunContext) -> list[str]:
    """Tasks skipped because of a dependency that has not finally failed (it was escalated, and
    a choice approved it since, or it still waits): back to pending, so this pass runs them
    once their dependencies succeed (or skips them again while one still waits). A task that
    waited for an escalated dependency a choice closed since (defer, tech-debt) no longer
    waits: its skip says the dependency did not succeed, as for one that failed."""
    rows = {row.task_id: row for row in ctx.journal.tasks(ctx.run_id)}
    reopened = []
    for task in ctx.plan.tasks:
        row = rows.get(task.id)
        if row is None or row.state is not TaskState.SKIPPED or not row.message.startswith(
                (DEPENDENCY_SKIP, WAITING_SKIP)):
            continue
        deps = [rows.get(dep) for dep in task.depends_on]
        if all(dep is not None and (dep.state.is_success or not dep.state.is_final) for dep in deps):
            ctx.transition(task.id, TaskState.PENDING, "its dependencies may land now: run again")
            rows[task.id] = ctx.journal.task(ctx.run_id, task.id)  # a best-of task after its attempts
            reopened.append(task.id)
        elif row.message.startswith(WAITING_SKIP):
            ctx.transition(task.id, TaskState.SKIPPED, _no_longer_waiting(task.select_from, deps))
            rows[task.id] = ctx.journal.task(ctx.run_id, task.id)
    return reopened


def _no_longer_waiting(attempts: list[str], deps: list[TaskRow | None]) -> str:
    """Why a task that waited for an escalated dependency is skipped once that dependency is
    closed: a best-of task's attempts say it (their skips were re-said first, in plan order)."""
    closed = [dep for dep in deps if dep is not None and dep.state.is_final and not dep.state.is_success]
    if attempts and closed:
        return closed[0].message
    if not closed:
        return "a dependency did not succeed"
    return f"{DEPENDENCY_SKIP}{closed[0].task_id!r} did not succeed (it is {closed[0].state.value})"


def tasks_to_retry(ctx: RunContext) -> list[str]:
    """The failed tasks, then the skipped tasks that depend on one of them (transitively)."""
    rows = {row.task_id: row for row in ctx.journal.tasks(ctx.run_id)}
    chosen = {tid for tid, row in rows.items() if row.state in RETRIED_STATES}
    grew = True
    while grew:
        grew = False
        for task in ctx.plan.tasks:
            row = rows.get(task.id)
            if task.id in chosen or row is None or row.state is not TaskState.SKIPPED:
                continue
            if chosen.intersection(task.depends_on):
                chosen.add(task.id)
                grew = True
    return [t.id for t in ctx.plan.tasks if t.id in chosen]


def _retry_stamp(ctx: RunContext, task_ids: list[str]) -> str:
    """A label for this retry's kept ref, usage keys and artifacts, unused by any earlier retry of
    these tasks: two retries within one second must not overwrite the first one's kept attempt."""
    base = str(int(time.time()))
    for n in itertools.count(1):
        stamp = base if n == 1 else f"{base}.{n}"
        if not any((ctx.files.run_dir / "_retried" / f"{tid}-{stamp}").exists()
                   or ctx.usage.label_used(ctx.run_id, tid, f"retried-{stamp}") for tid in task_ids):
            return stamp
    raise AssertionError("unreachable")


async def reset_for_retry(ctx: RunContext, task_ids: list[str]) -> list[str]:
    """Reset `task_ids` to run again from scratch; returns those that were. A task whose worktree
    holds work no commit holds (commits or edits inside a submodule, files git could not add)
    is not retried: its worktree would be removed, and that work with it. It stays as it was,
    the worktree named with how to save the work (its dependents are skipped again)."""
    stamp = _retry_stamp(ctx, task_ids)
    reset: list[str] = []
    for task_id in task_ids:
        row = ctx.journal.task(ctx.run_id, task_id)
        if row.worktree and Path(row.worktree).is_dir() and (why := await unsaved_work(ctx.repo, Path(row.worktree))):
            ctx.note(task_id, f"not retried: its worktree {row.worktree} has work no commit holds: {why}. Copy "
                              f"what you want from it elsewhere, remove it (`git worktree remove --force "
                              f"{row.worktree}`), then `launcher resume {ctx.run_id} --retry-failed` retries it")
            continue
        reset.append(task_id)
        if row.head_sha and row.start_sha and row.head_sha != row.start_sha:
            ref = f"refs/launcher/{ctx.run_id}/{task_id}/failed-{stamp}"
            async with ctx.repo.lock.hold():  # the empty old value: never replaces a kept attempt
                await ctx.repo.git("update-ref", ref, row.head_sha, "", check=False)
            ctx.note(task_id, f"its earlier attempt is kept as {ref}")
        if row.worktree:
            await worktrees.remove_worktree(ctx.repo, Path(row.worktree), branch=row.branch,
                                            delete_branch=bool(row.branch))
        elif row.branch:
            async with ctx.repo.lock.hold():
                await ctx.repo.git("branch", "-D", row.branch, check=False)
        ctx.usage.set_aside(ctx.run_id, task_id, f"retried-{stamp}")  # still counted, never overwritten
        artifacts = ctx.files.run_dir / task_id
        if artifacts.is_dir():
            kept = ctx.files.run_dir / "_retried" / f"{task_id}-{stamp}"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(artifacts), str(kept))
        ctx.transition(
            task_id, TaskState.PENDING, f"retrying (was {row.state.value})",
            branch=None, worktree=None, start_sha=None, head_sha=None, iteration=0, round_base=0,
            agent_pgid=None, approval_hash=None, files=[], contract=None, merged=0, merge_commit=None,
        )
    return reset


HELD_AT_LANDING = "not landed:"  # a skip the landing decided (its epic, its dependency): work kept


def restore_held_back(ctx: RunContext) -> list[str]:
    """Approved tasks the landing held back (their epic was blocked, a dependency did not land)
    are approved again, not re-run: their branches were kept, and the next landing decides
    anew with the blocking tasks' new results (a choice approved one, a retry ran it again).
    Without this, an epic whose blocked task is approved or retried could never land (its
    other tasks would stay skipped, blocking it in turn)."""
    restored = []
    for row in ctx.journal.tasks(ctx.run_id):
        if (row.state is TaskState.SKIPPED
                and row.message.startswith(HELD_AT_LANDING)
                and row.branch and row.head_sha and row.approval_hash):
            ctx.transition(row.task_id, TaskState.APPROVED,
                           f"approved; held back at the last landing ({row.message}), lands now if it can")
            restored.append(row.task_id)
    return restored
