"""A phase whose run parked its approved work on an integration branch (the main work tree had
local changes): once the operator has merged that branch into the target, the run's work has
landed, and the journal says so (as `launcher land` would record it), whether the workflow then
goes on (`resume`) or ends (`cancel`). Merged means in the main work tree too: a target ref moved
alone (`git update-ref`) while it is checked out is refused, with what to run."""

from __future__ import annotations

from launcher.app.report import run_message, run_status
from launcher.errors import UsageProblem
from launcher.git import target_tree
from launcher.git.repo import GitRepo
from launcher.git.tree_undo import split_z
from launcher.models.states import RunStatus, TaskState
from launcher.store.journal import Journal, TaskRow
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
    held = [row for row in journal.tasks(run_id) if row.state is TaskState.APPROVED and row.head_sha
            and await repo.is_ancestor(row.head_sha, f"refs/heads/{target}")]
    await _check_main_tree_follows(repo, target, held, journal.run(run_id).base_sha)
    landed: list[str] = []
    for row in held:
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


async def _check_main_tree_follows(repo: GitRepo, target: str, rows: list[TaskRow], base_sha: str) -> None:
    """Refuses while the main work tree, which has `target` checked out, is behind it on the files
    the parked work changed (the ref alone was moved, `git update-ref`): its index would undo
    that work in the next commit, so the work has not landed yet."""
    if not rows or not await target_tree.main_tree_holds(repo, f"refs/heads/{target}"):
        return
    paths: set[str] = set()
    for row in rows:
        assert row.head_sha is not None
        changed = await repo.git("diff", "--name-only", "-z", "--no-renames", row.start_sha or base_sha, row.head_sha)
        paths.update(split_z(changed.out))
    if not paths:
        return
    staged = await repo.git("--literal-pathspecs", "diff", "--cached", "--name-only", "-z", "--no-renames", "HEAD",
                            "--", *sorted(paths))  # (a file named `*` is that file, not every staged one)
    behind = sorted(split_z(staged.out))
    if behind:
        shown = " ".join(behind[:8]) + (f" (and {len(behind) - 8} more)" if len(behind) > 8 else "")
        raise UsageProblem(
            f"{target} holds the parked work, but the main work tree was not brought to it: its index "
            f"still has the files as they were before ({shown}), so `git status` shows staged changes "
            "that undo that work (do not commit them); it is not recorded as landed",
            where=str(repo.root),
            fix=f"`git checkout {target} -- {' '.join(behind[:8])}` (it overwrites your changes to those files; "
                "or `git merge --ff-only` the integration branch as the pause said), then run this again")
