"""Work the queue could not land goes back to its author, in its own worktree, as one more
round that counts toward the iteration cap (then checks, grading and landing as usual):

- an integration-check culprit gets the check's failing output as its revision feedback;
- with `on_conflict = "agent"`, a conflicting task gets a resolution round: the target is
  merged into its branch with every conflict committed visibly (`run/resolution.py`, when the
  round is about to run), and the feedback names each conflicted path, what each side did and
  how it was left, and the target side's change.

Each return is journaled (`needs_revision`, and a `returned` queue step) before the round runs,
so a resumed run drives the round instead of landing anything twice.
"""

from __future__ import annotations

from launcher.app.context import RunContext
from launcher.app.run import resolution
from launcher.app.run.grading import feedback_path, iteration_cap
from launcher.git import merge
from launcher.models.markdown import fence
from launcher.models.states import TaskState
from launcher.store import queue_log
from launcher.store.files import atomic_write_text


def on_conflict(ctx: RunContext) -> str:
    return ctx.settings.on_conflict


def batch_size(ctx: RunContext) -> int | None:
    return ctx.settings.batch


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


def return_culprit(ctx: RunContext, task_id: str, landing: merge.Landing, tip: str) -> bool:
    """Send a task whose change breaks the integration check back for a revision round on top
    of `tip` (what landed: merged into its branch when the round is about to run, as for a
    conflict); False when its rounds are used up (the caller fails it, as without a queue)."""
    if not _rounds_left(ctx, task_id):
        return False
    row = ctx.journal.task(ctx.run_id, task_id)
    # What was run, as the queue found it (app/queue/batches.py): the check failed on your
    # change merged onto what was accepted before it, and passed on that tree without it.
    text = ("# The integration check fails with your change\n\n"
            f"The launcher merged your branch onto `{ctx.target}` (with the tasks accepted before "
            "yours in this landing, if any) and ran the integration check on the result: it "
            "failed there, and it passed on the same tree without your change (the first line "
            "below names both commits). Fix your change so the check passes with it. The failing "
            f"run's output:\n\n{fence(landing.details)}\n")  # the check's output: it cannot close the fence
    atomic_write_text(feedback_path(ctx, task_id, row.iteration), text)  # until the merge is made
    resolution.begin(ctx, task_id, tip, [], text, kind=resolution.CULPRIT)
    _record(ctx, task_id, "integration check")
    ctx.transition(task_id, TaskState.NEEDS_REVISION,
                   f"integration check failed with its change: revision round {row.iteration + 1}")
    return True


async def return_conflict(ctx: RunContext, task_id: str, landing: merge.Landing, tip: str) -> bool:
    """Hand a conflicting task back for a resolution round on top of `tip` (what landed); False
    when `on_conflict` is "keep" or its rounds are used up. The merge itself is made when the
    round is about to run (`run.resolution.prepare`), in its worktree or, when it has none here
    (`land --from`), in one made on its branch."""
    if on_conflict(ctx) != "agent":
        return False
    if ctx.settings.strategy == "rebase":
        # A rebase replays the task's own commits and drops the resolving merge: it would
        # conflict again. The branch is kept for a person, as with "keep".
        ctx.note(task_id, "on_conflict = \"agent\" needs the merge or squash strategy; branch kept")
        return False
    if not _rounds_left(ctx, task_id):
        return False
    row = ctx.journal.task(ctx.run_id, task_id)
    files = ", ".join(landing.conflict_files)
    resolution.begin(ctx, task_id, tip, landing.conflict_files, landing.details)
    _record(ctx, task_id, f"conflict with {ctx.target} in {files}")
    ctx.transition(task_id, TaskState.NEEDS_REVISION,
                   f"conflicts with {ctx.target} in {files}: resolution round {row.iteration + 1}")
    return True
