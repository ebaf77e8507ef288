"""The include-file screen of a task's branch outside a landing: a branch that commits a file
`.worktreeinclude` copied into its worktree (a `.env`, a key) is never approved, and never
exported (`run --shard I/N --no-merge --export DIR` bundles approved branches into a CI
artifact: a route out of the machine, screened as a landing is, with the landing's words)."""

from __future__ import annotations

from launcher.git import secret_guard
from launcher.git.repo import GitRepo
from launcher.models.states import TaskState
from launcher.store.journal import Journal, TaskRow


async def refusal(repo: GitRepo, row: TaskRow, target: str, base_sha: str) -> str | None:
    """Why the landing would refuse `row`'s branch for a copied include file it commits (the
    file and line named, never the secret), screened against what it would land on: the
    target's tip (its start when the target is not there); None when it commits none."""
    if not row.branch or not row.head_sha or not (row.included or row.included_blobs):
        return None
    start = row.start_sha or base_sha
    tip = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{target}^{{commit}}", check=False)
    onto = tip.out.strip() if tip.ok and tip.out.strip() else start
    return await secret_guard.refusal(repo, onto, row.head_sha, row.branch, row.included, row.included_blobs)


async def refuse_leaking(repo: GitRepo, journal: Journal, run_id: str, when: str) -> list[str]:
    """Every approved task of the run whose branch commits a copied include file is failed with
    the landing's refusal, `when` saying where ("refused at export"): one approved without the
    screen an approval makes now (by an earlier launcher) is never reported approved, nor
    exported. The ids of the tasks failed."""
    run = journal.run(run_id)
    refused = []
    for row in journal.tasks(run_id):
        if row.state is TaskState.APPROVED and (
                why := await refusal(repo, row, run.target, run.base_sha)) is not None:
            journal.transition(run_id, row.task_id, TaskState.FAILED, f"{when}: {why}; branch kept")
            refused.append(row.task_id)
    return refused
