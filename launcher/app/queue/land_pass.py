"""One pass of the merge queue over the candidates that are ready to land: order them by the
conflict matrix, then land them in dependency waves (a task whose dependency did not land in
this pass is not landed either), each wave in batches with bisection. Nothing here moves a
ref: the caller journals the result's tip and advances the target once."""

from __future__ import annotations

import json
from dataclasses import asdict

from launcher.app.context import RunContext
from launcher.app.queue.batches import Folder, QueueResult
from launcher.app.queue.matrix import MATRIX
from launcher.app.queue.order import queue_order
from launcher.app.queue.send_back import batch_size
from launcher.app.run import integration_output
from launcher.errors import FoldLost, GitFailed
from launcher.git import conflict_matrix, merge, ref_updates, worktrees
from launcher.store import queue_log


def _dependencies(ctx: RunContext, task_id: str) -> list[str]:
    spec = ctx.plan.task(task_id)
    return [] if spec.select_from else spec.depends_on  # a best-of task's "deps" are its attempts


def _listed_changes(ctx: RunContext, ready: list[merge.Candidate],
                    tip: str) -> dict[str, conflict_matrix.BranchChanges]:
    """What the collection listed of each branch started at `tip` and still at its collected
    head (it builds on its start: a branch that left it is never collected)."""
    listed: dict[str, conflict_matrix.BranchChanges] = {}
    for candidate in ready:
        row = ctx.journal.task(ctx.run_id, candidate.task_id)
        if row.start_sha == tip and row.head_sha == candidate.head and (
            changes := ctx.repo.known_changes(tip, candidate.head)
        ) is not None:
            listed[candidate.task_id] = conflict_matrix.known(changes)
    return listed


Step = tuple[str, list[str], dict[str, object]]  # a queue-log record: (kind, task ids, fields)


def write_steps(ctx: RunContext, steps: list[Step]) -> None:
    """Journal queue-log records that `land_ready` was asked to hold back."""
    log = queue_log.QueueLog(ctx.journal.path)
    try:
        for kind, tasks, fields in steps:
            log.record(ctx.run_id, kind, tasks, **fields)  # type: ignore[arg-type]
    finally:
        log.close()


def withdraw_culprits(ctx: RunContext, result: QueueResult, why: str) -> None:
    """The pass's culprits were judged against a tip that is no longer the target's: journal
    their verdicts withdrawn, and take the failing check run back out of their facts.json."""
    _withdraw(ctx, {t: result.culprit_tips[t] for t in result.failed if t in result.culprit_tips}, why)


def _withdraw(ctx: RunContext, culprits: dict[str, str], why: str) -> None:
    """Journal the verdicts of `culprits` (task -> the commit the check failed on) withdrawn,
    and take those failing runs back out of the tasks' facts.json."""
    if not culprits:
        return
    write_steps(ctx, [(queue_log.WITHDRAWN, sorted(culprits), {"detail": why})])
    for task_id, tip in sorted(culprits.items()):
        integration_output.withdraw_culprit(ctx, task_id, tip)


def settle_refolds(ctx: RunContext, folds: list[QueueResult], final: QueueResult) -> None:
    """An epic that cannot land whole has the approved work folded again without its members
    (`land/landing.py`): `folds` are those passes in order, `final` the outcome kept (the last
    fold, plus the failures found in earlier ones). A culprit named by a fold whose verdict is
    not how the landing ends for that task (it landed in a later fold, or ends with another
    failure) is withdrawn, as a verdict judged while the target moved is; the culprits kept
    are `final`'s, each with its failing run in its facts.json."""
    kept: dict[str, str] = {}
    for fold in folds:
        kept.update({t: tip for t, tip in fold.culprit_tips.items()
                     if t in fold.failed and final.failed.get(t) is fold.failed[t]})
    stale: dict[str, str] = {}
    for fold in folds[:-1]:  # the last fold's culprits are all kept: its failures are final's
        stale.update({t: tip for t, tip in fold.culprit_tips.items() if kept.get(t) != tip})
    _withdraw(ctx, stale, "judged in a fold that did not land: the epic's landing folded again")
    for task_id in stale.keys() & kept.keys():  # its facts.json holds one failing run: the kept one
        integration_output.record_culprit(ctx, task_id, kept[task_id], final.failed[task_id].details)
    final.culprit_tips = kept


async def land_ready(ctx: RunContext, tip: str, ready: list[merge.Candidate],
                     check: merge.IntegrationCheck | None,
                     held: list[Step] | None = None) -> tuple[QueueResult, dict[str, str]]:
    """Land `ready` (in landing order) onto `tip` in memory: (the result, task -> the
    dependency that kept it from landing). With `held`, the queue-log records go there instead
    of the journal (a fold that may be thrown away must not be journaled as done)."""
    log = queue_log.QueueLog(ctx.journal.path)
    try:
        def record(kind: str, tasks: list[str], **fields: object) -> None:
            if held is not None:
                held.append((kind, tasks, fields))
                return
            log.record(ctx.run_id, kind, tasks, **fields)  # type: ignore[arg-type]

        folder = Folder(repo=ctx.repo, strategy=ctx.settings.strategy, check=check, record=record,
                        verdict_of=lambda tree: log.check_verdict(ctx.run_id, tree),
                        pin_ref=fold_ref(ctx.run_id),
                        tip_failed_before=log.count(ctx.run_id, queue_log.HELD_BACK) > 0)
        by_id = {c.task_id: c for c in ready}
        pairs = await conflict_matrix.pairwise(ctx.repo, {c.task_id: c.head for c in ready}, tip,
                                               _listed_changes(ctx, ready, tip))
        record(MATRIX, list(by_id), detail=json.dumps([asdict(p) for p in pairs]))
        order = queue_order(list(by_id), {t: _dependencies(ctx, t) for t in by_id},
                            conflict_matrix.conflicting(pairs))
        result = QueueResult(tip)
        skipped: dict[str, str] = {}
        remaining = [by_id[t] for t in order]
        while remaining:
            waiting = {c.task_id for c in remaining}
            wave = [c for c in remaining if not set(_dependencies(ctx, c.task_id)) & waiting]
            if not wave:  # cannot happen without a cycle; land the rest as they are
                wave = remaining
            try:
                await folder.land(result, wave, batch_size(ctx))
            except GitFailed as failed:
                await _fold_lost(ctx, [folder.pinned, result.tip], failed)
                raise
            for note in result.notes:  # a failure that did not reproduce: nobody was blamed
                ctx.note(None, note)
            result.notes.clear()
            remaining = [c for c in remaining if c not in wave]
            for candidate in list(remaining):
                blocker = next((d for d in _dependencies(ctx, candidate.task_id)
                                if d in result.failed or d in skipped), None)
                if blocker:
                    skipped[candidate.task_id] = blocker
                    remaining.remove(candidate)
        if held is None:  # a fold that may be thrown away is not told yet
            for task_id, failed_on in result.culprit_tips.items():
                landing = result.failed.get(task_id)
                if landing is not None and landing.outcome == "check_failed":
                    integration_output.record_culprit(ctx, task_id, failed_on, landing.details)
        return result, skipped
    finally:
        log.close()
        if check is not None:  # the fold's result is the caller's now (no check runs until it lands)
            async with ctx.repo.lock.hold():
                await ref_updates.delete_refs(ctx.repo, [fold_ref(ctx.run_id)])


async def _fold_lost(ctx: RunContext, commits: list[str | None], failed: GitFailed) -> None:
    """Raise FoldLost when git failed because a commit of the fold is gone (its pin, fold_ref,
    deleted and the commits pruned while a check ran): then nothing of the fold can land, and
    the caller folds again, instead of stopping at git's "unknown revision"."""
    for commit in filter(None, commits):
        if (await ctx.repo.git("cat-file", "-e", f"{commit}^{{commit}}", check=False)).returncode != 0:
            raise FoldLost(
                f"commit {commit[:12]} of the landing's fold is gone: {fold_ref(ctx.run_id)}, which keeps the "
                "fold's commits while the integration check runs, was deleted and they were pruned "
                "(`git gc --prune=now`?); nothing of that fold landed", where=str(ctx.repo.root),
                fix=f"`launcher land {ctx.run_id}` folds the approved work again; leave refs/launcher/ alone "
                    "(and do not prune) while a run lands") from failed


def fold_ref(run_id: str) -> str:
    """The ref that keeps a fold's commits while its checks run (no task is named `_integration`)."""
    return f"refs/launcher/{run_id}/{worktrees.INTEGRATION}/fold"
