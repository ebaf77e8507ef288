"""The conflict matrix as the report shows it: what the landing passes computed (from the
journal), or, for `status` while work is unlanded, computed afresh: merge-tree of every pair
of approved branches, plus a prediction for each task still at work from the files it has
touched so far (two tasks touching one file may conflict)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from launcher.app.queue import touched as touched_now
from launcher.git import conflict_matrix
from launcher.git.repo import GitRepo
from launcher.models.report import ConflictReport, QueueReport
from launcher.models.states import TaskState
from launcher.store import queue_log
from launcher.store.journal import TaskRow

MATRIX = "matrix"  # queue step kind: the pairwise conflicts of a pass's candidates (JSON)
_AT_WORK = {TaskState.PROVISIONING, TaskState.RUNNING, TaskState.COLLECTED, TaskState.CHECKING,
            TaskState.GRADING, TaskState.NEEDS_REVISION}


def _reports(pairs: list[conflict_matrix.Pair]) -> list[ConflictReport]:
    return [ConflictReport(a=p.a, b=p.b, kind=p.kind, files=p.files) for p in pairs]


def recorded(journal_path: Path, run_id: str) -> tuple[list[ConflictReport], QueueReport]:
    """The matrix of the run's landing passes and the queue's counts, from the journal alone."""
    log = queue_log.QueueLog(journal_path)
    try:
        steps = log.steps(run_id)
    finally:
        log.close()
    # Every pass's matrix: a later pass re-judges the pairs among its own candidates; a pair it
    # did not see (one side landed or was sent back in an earlier pass) stays as last judged.
    judged: dict[tuple[str, str], ConflictReport] = {}
    for step in (s for s in steps if s["kind"] == MATRIX):
        seen = set(step["tasks"])
        judged = {ab: pair for ab, pair in judged.items() if not set(ab) <= seen}
        for pair in json.loads(step["detail"]):
            judged[(pair["a"], pair["b"])] = ConflictReport(**pair)
    conflicts = list(judged.values())
    queue = QueueReport(
        batches=sum(s["kind"] == queue_log.BATCH for s in steps),
        # every run of the user's command: a run again on the same tree costs as much
        check_runs=sum(s["kind"] in (queue_log.CHECK, queue_log.CHECK_AGAIN) for s in steps),
        bisections=sum(s["kind"] == queue_log.BISECT for s in steps),
        # Each task once, in the order first found (a culprit of two rounds is one culprit).
        culprits=_culprits(steps),
        returned=list(dict.fromkeys(t for s in steps if s["kind"] == queue_log.RETURNED for t in s["tasks"])),
    )
    return conflicts, queue


def _culprits(steps: list[dict[str, Any]]) -> list[str]:
    """Each task once, in the order first found (a culprit of two rounds is one culprit); a
    verdict withdrawn because the target moved under its pass does not count."""
    found: dict[str, int] = {}
    for step in steps:
        for task_id in step["tasks"] if step["kind"] in (queue_log.CULPRIT, queue_log.WITHDRAWN) else ():
            found[task_id] = found.get(task_id, 0) + (1 if step["kind"] == queue_log.CULPRIT else -1)
    return [task_id for task_id, count in found.items() if count > 0]


async def live(repo: GitRepo, rows: list[TaskRow], base_sha: str, run_dir: Path | None = None,
               watched: bool = False) -> list[ConflictReport] | None:
    """The matrix now (None when no work is waiting to land or at work: keep the recorded one).
    A task at work counts what it has touched so far (`touched.at_work`: from the journal and,
    when `watched` by a live launcher, its records in `run_dir`, else a look at the running trees)."""
    approved = {r.task_id: r.head_sha for r in rows if r.state is TaskState.APPROVED and r.head_sha}
    at_work = [r for r in rows if r.state in _AT_WORK and r.worktree and Path(r.worktree).is_dir()]
    if not approved and not at_work:
        return None
    pairs = await conflict_matrix.pairwise(repo, approved, base_sha)
    touched = {r.task_id: r.files for r in rows if r.task_id in approved}
    touched.update(await touched_now.at_work(repo, at_work, base_sha, run_dir, watched))
    working = {r.task_id for r in at_work}
    guesses = [p for p in conflict_matrix.predicted(touched, pairs) if p.a in working or p.b in working]
    return _reports(pairs + guesses)
