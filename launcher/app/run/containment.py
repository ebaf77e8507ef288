"""What keeps an agent inside its worktree, checked around every agent round.

At run start (and resume): the shared git directory's hooks and config are snapshotted, and the
main checkout's dirty, untracked and ignored files are hashed (engine/tree_guard.py). After each
agent round: git-dir changes are undone and fail the task; main-checkout changes in the round's
window are intrusions of that task; an idle worktree of another task that changed is put back,
and when only one task was active since it was recorded, that task is failed for it. Those
checks of other tasks' trees after a round stay within a share of the run's time
(`tree_guard.CROSS_CHECK_SHARE`); the checks before a tree's own next round and before landing
always run, so every change is still found. A failure is
a `LauncherError`, which `run_task` turns into the failed state.

Not attributable: a write into a worktree whose own agent (or checks) runs at the same time, and
a main-checkout write while several agents run (it is blamed on the first round to end).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import anyio

from launcher.app.context import STATE_DIR, RunContext
from launcher.concurrency import each
from launcher.engine import reaper, tree_guard
from launcher.errors import LauncherError
from launcher.git import guard
from launcher.models.states import TaskState

_CHECK_PARALLEL = 4  # idle trees checked at once before landing


class WroteOutsideWorktree(LauncherError):
    default_key = "wrote_outside_worktree"


def _own_paths(ctx: RunContext) -> tuple[str, ...]:
    """Paths in the main checkout the launcher itself writes (its state, its worktrees)."""
    own = [f"{STATE_DIR}/"]
    with contextlib.suppress(ValueError):  # the worktrees live outside the checkout
        own.append(str(ctx.worktree_root.resolve().relative_to(ctx.repo.root.resolve())) + "/")
    return tuple(own)


async def start(ctx: RunContext) -> None:
    """Snapshot what agents must not change; called when a run starts or resumes."""
    reaper.become_subreaper()  # orphaned descendants come back to us, to be reaped
    ctx.git_dir_snapshot = await anyio.to_thread.run_sync(guard.take_snapshot, ctx.repo.common_dir)
    ctx.main_contents = await tree_guard.take_main_snapshot(
        ctx.repo, ctx.include_paths, _own_paths(ctx)
    )


async def before_round(ctx: RunContext, task_id: str) -> None:
    """The task's worktree must be as its last round left it; from now on it is active."""
    changed = await ctx.idle_trees.changes(ctx.repo, task_id)
    if changed:
        await _undo_idle_change(ctx, task_id, changed)
    ctx.idle_trees.activate(task_id)


async def record_idle(ctx: RunContext, task_id: str, worktree: Path) -> None:
    """The task's round is committed and checked: until its next round, its tree must not change."""
    await reap(ctx, task_id)  # what its checks left running
    await ctx.idle_trees.record(ctx.repo, task_id, worktree)


async def _undo_idle_change(ctx: RunContext, victim: str, changed: list[str]) -> None:
    record = ctx.idle_trees.records[victim]
    suspects = sorted(record.witnesses)
    await ctx.idle_trees.restore(ctx.repo, victim)
    what = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    ctx.note(victim, f"its worktree changed while its agent was not running ({what}); put back")
    if len(suspects) == 1:
        ctx.intruders.setdefault(
            suspects[0], f"wrote into the worktree of task {victim} while its agent was not running "
            f"({what}); the launcher put that worktree back",
        )
    else:
        ctx.note(victim, f"cannot tell which of {', '.join(suspects) or 'no task'} changed it")


async def after_round(ctx: RunContext, task_id: str, who: str = "the agent") -> None:
    """Undo an agent's changes to the shared git dir and to idle worktrees; fail it for them."""
    await reap(ctx, task_id)
    await _undo_git_dir_changes(ctx, task_id, who)
    for other in list(ctx.idle_trees.records):
        if not ctx.idle_trees.may_cross_check():
            break  # over budget: the tree is checked before its next round and before landing
        if other != task_id and other in ctx.idle_trees.records and (
            changed := await ctx.idle_trees.cross_check(ctx.repo, other)
        ):
            await _undo_idle_change(ctx, other, changed)
    if task_id in ctx.intruders:
        raise WroteOutsideWorktree(
            f"{who} {ctx.intruders.pop(task_id)}",
            where=f"task {task_id}", fix="an agent may only write inside its own worktree",
        )


async def _undo_git_dir_changes(ctx: RunContext, task_id: str, who: str) -> None:
    """Put the shared git dir back; blame the task if a change falls in its round, else the one
    other active task if there is exactly one (parallel agents cannot be told apart by time)."""
    snapshot = ctx.git_dir_snapshot
    if snapshot is None:
        return
    since = ctx.idle_trees.round_started.get(task_id, 0.0)
    async with ctx.repo.lock.hold():
        undone = await anyio.to_thread.run_sync(guard.undo_tampering, snapshot, since)
    if undone is None:
        return
    listed, in_this_round = undone
    if in_this_round:
        raise guard.tampered(f"{who} of task {task_id}", listed, snapshot.common_dir)
    others = sorted(ctx.idle_trees.active - {task_id})
    what = f"changed the repository's shared git directory ({listed}); the launcher put it back"
    if len(others) == 1:
        ctx.intruders.setdefault(others[0], what)
    ctx.note(task_id, f"another agent {what}")


async def reap(ctx: RunContext, task_id: str | None = None) -> None:
    """Kill the task's (or, with None, the whole run's) processes that escaped their group."""
    killed = await anyio.to_thread.run_sync(reaper.reap_escaped, ctx.run_id, task_id)
    if killed:
        ctx.note(task_id, f"killed {len(killed)} process(es) that escaped their process group")


async def main_tree_intrusions(ctx: RunContext, since: float, ended: float) -> list[str]:
    """Files of the main checkout changed in this round's window (by status, then by content)."""
    found = []
    for entry in await ctx.main_status(not_before=ended):
        if entry in ctx.main_snapshot:
            continue
        when = tree_guard.ctime_of(ctx.repo.root / entry[3:])  # ctime: cannot be back-dated
        if when is None or when >= since - 1:
            found.append(entry[3:])
    if ctx.main_contents is not None:
        found += await anyio.to_thread.run_sync(tree_guard.changed_since, ctx.main_contents, since)
    fresh = sorted(p for p in set(found) if p not in ctx.reported_intrusions)
    ctx.reported_intrusions.update(fresh)
    return fresh


async def before_landing(ctx: RunContext) -> None:
    """Approved worktrees must still be as recorded; a task found writing elsewhere fails."""
    found: dict[str, list[str]] = {}

    async def check(task_id: str) -> None:
        if changed := await ctx.idle_trees.changes(ctx.repo, task_id):
            found[task_id] = changed

    await each(list(ctx.idle_trees.records), check, _CHECK_PARALLEL)  # one `git status` per tree
    for task_id in sorted(found):
        await _undo_idle_change(ctx, task_id, found[task_id])
    for task_id, what in list(ctx.intruders.items()):
        if ctx.journal.task(ctx.run_id, task_id).state is TaskState.APPROVED:
            ctx.transition(task_id, TaskState.FAILED, f"the agent {what}")
            del ctx.intruders[task_id]
