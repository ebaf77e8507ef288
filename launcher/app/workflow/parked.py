"""A phase whose run parked its approved work on an integration branch (the main work tree had
local changes): once the operator has merged that branch into the target, the run's work has
landed, and the journal says so (as `launcher land` would record it), whether the workflow then
goes on (`resume`) or ends (`cancel`)."""

from __future__ import annotations

from launcher.app.report import run_message, run_status
from launcher.git.repo import GitRepo
from launcher.models.states import RunStatus, TaskState
from launcher.store.journal import Journal
from launcher.store.run_claim import Claim


async def record_merged_by_operator(repo: GitRepo, journal: Journal, claim: Claim, target: str) -> list[str]:
    """The parked run's approved tasks whose commits `target` now holds are recorded `merged`
    (landed on the target); once none is left approved the run is settled as its tasks say
    (`succeeded` when all landed) and `landed_on` the target, so no report points at the
    integration branch any more. Under the caller's `claim` of the run (which kept the run's
    status aside). Returns the tasks recorded."""
    run_id = claim.run_id
    if claim.previous_status is not RunStatus.PARKED:
        return []
    landed: list[str] = []
    for row in journal.tasks(run_id):
        if row.state is TaskState.APPROVED and row.head_sha and \
                await repo.is_ancestor(row.head_sha, f"refs/heads/{target}"):
            journal.transition(run_id, row.task_id, TaskState.MERGED,
                               f"landed on {target}: the operator merged the run's parked work into it",
                               merged=True)
            landed.append(row.task_id)
    rows = journal.tasks(run_id)
    if landed and not any(row.state is TaskState.APPROVED for row in rows):
        message = f"landed on {target}: the operator merged the run's parked work into it ({', '.join(landed)})"
        journal.set_run(run_id, status=run_status(rows, merge=True, reached_target=True), landed_on=target,
                        message=run_message(rows, message))
    return landed
