"""Work the queue could not land goes back to its author, in its own worktree, as one more
round that counts toward the iteration cap (then checks, grading and landing as usual):

- an integration-check culprit gets the check's failing output as its revision feedback;
- with `on_conflict = "agent"`, a conflicting task gets a resolution round: the target is
  merged into its branch with the markers committed, and the feedback names the conflicting
  files and the target side's change of them.

Each return is journaled (`needs_revision`, and a `returned` queue step) before the round runs,
so a resumed run drives the round instead of landing anything twice.
"""

from __future__ import annotations

from pathlib import Path

from launcher.app.context import RunContext
from launcher.app.run import containment
from launcher.app.run.grading import feedback_path, iteration_cap
from launcher.git import merge, resolution
from launcher.models.states import TaskState
from launcher.store import queue_log
from launcher.store.files import atomic_write_text

_DIFF_CHARS = 6000


def on_conflict(ctx: RunContext) -> str:
    return ctx.plan.run.on_conflict or ctx.config.merge.on_conflict


def batch_size(ctx: RunContext) -> int | None:
    return ctx.plan.run.batch or ctx.config.merge.batch


def _rounds_left(ctx: RunContext, task_id: str) -> bool:
    """A best-of-N task runs no agent of its own (it adopted its winner's branch): no rounds."""
    if ctx.plan.task(task_id).select_from:
        return False
    row = ctx.journal.task(ctx.run_id, task_id)
    return row.iteration - row.round_base < iteration_cap(ctx)


def _record(ctx: RunContext, task_id: str, why: str) -> None:
    log = queue_log.QueueLog(ctx.journal.path)
    try:
        log.record(ctx.run_id, queue_log.RETURNED, [task_id], detail=why)
    finally:
        log.close()


def return_culprit(ctx: RunContext, task_id: str, landing: merge.Landing) -> bool:
    """Send a task whose change breaks the integration check back for a revision round; False
    when its rounds are used up (the caller fails it, as without a queue)."""
    if not _rounds_left(ctx, task_id):
        return False
    row = ctx.journal.task(ctx.run_id, task_id)
    text = ("# The integration check fails with your change\n\n"
            f"The launcher merged your branch onto `{ctx.target}` and ran the integration check "
            "there; it failed with your change alone (the other tasks' changes passed without "
            "it). Fix your change so the check passes. Its output:\n\n"
            f"```\n{landing.details}\n```\n")
    atomic_write_text(feedback_path(ctx, task_id, row.iteration), text)
    _record(ctx, task_id, "integration check")
    ctx.transition(task_id, TaskState.NEEDS_REVISION,
                   f"integration check failed with its change: revision round {row.iteration + 1}")
    return True


async def return_conflict(ctx: RunContext, task_id: str, landing: merge.Landing, tip: str) -> bool:
    """Hand a conflicting task back for a resolution round on top of `tip` (what landed); False
    when `on_conflict` is "keep", its rounds are used up, or its worktree is gone."""
    row = ctx.journal.task(ctx.run_id, task_id)
    worktree = Path(row.worktree) if row.worktree else None
    if on_conflict(ctx) != "agent" or worktree is None or not worktree.is_dir():
        return False
    if ctx.plan.run.strategy == "rebase":
        # A rebase replays the task's own commits and drops the resolving merge: it would
        # conflict again. The branch is kept for a person, as with "keep".
        ctx.note(task_id, "on_conflict = \"agent\" needs the merge or squash strategy; branch kept")
        return False
    if not _rounds_left(ctx, task_id):
        return False
    files = ", ".join(landing.conflict_files)
    target_side = await _target_change(ctx, tip, row.head_sha or tip, landing.conflict_files)
    text = ("# Resolve a merge conflict\n\n"
            f"Your branch conflicts with `{ctx.target}` in: {files}.\n"
            f"The launcher merged `{ctx.target}` ({tip[:12]}) into your branch and committed the "
            "result with the conflict markers (`<<<<<<<`, `=======`, `>>>>>>>`) in those files. "
            "Resolve every conflict so both changes work together and remove all the markers; "
            "a branch with markers left in it is not landed.\n\n"
            f"{landing.details}\n\n"
            f"The other side's change of those files:\n\n```diff\n{target_side}\n```\n")
    atomic_write_text(feedback_path(ctx, task_id, row.iteration), text)
    _record(ctx, task_id, f"conflict with {ctx.target} in {files}")
    ctx.transition(task_id, TaskState.NEEDS_REVISION,
                   f"conflicts with {ctx.target} in {files}: resolution round {row.iteration + 1}")
    task = ctx.plan.task(task_id)
    head, _ = await resolution.merge_leaving_markers(
        ctx.repo, worktree, tip, f"Merge {ctx.target} into {row.branch} to resolve conflicts",
        {"Launcher-Run": ctx.run_id, "Launcher-Task": task_id, "Launcher-Agent": task.agent})
    # From now on the task's change is measured against what it was merged with.
    ctx.journal.update_task(ctx.run_id, task_id, start_sha=tip, head_sha=head)
    await containment.record_idle(ctx, task_id, worktree)
    return True


async def _target_change(ctx: RunContext, tip: str, head: str, files: list[str]) -> str:
    fork = await ctx.repo.git("merge-base", tip, head, check=False)
    if not fork.ok or not files:
        return "(not available)"
    diff = await ctx.repo.git("diff", "--no-color", "--no-ext-diff", fork.out.strip(), tip, "--", *files,
                              check=False)
    text = diff.out.strip() or "(no textual change)"
    return text if len(text) <= _DIFF_CHARS else text[:_DIFF_CHARS] + "\n[... cut]"
