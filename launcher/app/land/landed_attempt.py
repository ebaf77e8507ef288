"""`land --from`: which attempt of a best-of-N task an earlier land put on the target.

The export names the attempt its shard selected, but the earlier land may have landed another
one (the selected attempt broke the integration check or conflicted, and the next best landed
instead: `best_of.runner_up`). A land that finds the task already on the target (a CI re-run, a
second land of the export) reports what is there, read from the landing commit itself: its
`Launcher-Attempt` trailer names the attempt whose work landed, and its second parent (a merge)
is the head that landed. Never the export's first choice.
"""

from __future__ import annotations

from typing import Any

from launcher.app.run.best_of import NOT_LANDED
from launcher.git.commits import ATTEMPT
from launcher.git.repo import GitRepo
from launcher.models.plan import Plan
from launcher.models.states import TaskState
from launcher.store.journal import BEST_OF_N, Journal


async def _landed(repo: GitRepo, commit: str) -> tuple[str, str | None]:
    """(the `Launcher-Attempt` the landing commit names, or "", its second parent if a merge)."""
    shown = await repo.git("show", "-s", "--no-show-signature",
                           f"--format=%(trailers:key={ATTEMPT},valueonly,separator=%x01)%x00%P", commit,
                           check=False)
    if not shown.ok:
        return "", None
    attempts, _, parents = shown.out.partition("\0")
    named = [value.strip() for value in attempts.split("\x01") if value.strip()]
    merged = parents.split()
    return (named[-1] if named else ""), (merged[1] if len(merged) == 2 else None)


async def report_landed_attempts(repo: GitRepo, journal: Journal, run_id: str, plan: Plan,
                                 exports: list[dict[str, Any]], only: str | None = None) -> None:
    """Each best-of-N task of run `run_id` journaled as already landed (`only`: that task): its
    attempts reported as the target has them (the one that landed "landed as T", the shard's
    other choice "not landed"), and the task's head the one that landed."""
    spares = {spare["id"]: spare for data in exports for spare in data.get("spares") or []}
    for task in plan.tasks:
        if not task.select_from or only not in (None, task.id):
            continue
        row = journal.task(run_id, task.id)
        if row.state is not TaskState.MERGED or not row.merge_commit:
            continue
        commit = row.merge_commit
        attempt, second_parent = await _landed(repo, commit)
        if attempt not in task.select_from:
            continue
        head = second_parent or (spares[attempt]["head"] if attempt in spares else None)
        if head and head != row.head_sha:
            journal.transition(run_id, task.id, TaskState.MERGED, row.message, head_sha=head)
        for other in task.select_from:
            was = journal.task(run_id, other)
            if other == attempt:
                journal.transition(run_id, other, TaskState.SKIPPED, (
                    f"{BEST_OF_N} landed as {task.id} by {commit[:12]} (an earlier land); not landed again"),
                    **({"head_sha": head} if head else {}))
            elif was.message.startswith(f"{BEST_OF_N} selected"):
                journal.transition(run_id, other, TaskState.SKIPPED, (
                    f"{NOT_LANDED}: an earlier land landed {attempt} as {task.id} instead (by {commit[:12]}); "
                    "not landed again"))
