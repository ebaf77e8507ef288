"""The run report as it stands now, the one `run`, `resume`, `land`, `grade` and `status` print:
the journal's (`app/report.py`), with what git says now. Approved work whose branch changed since
loses its approval; a landing left half-done with the target moved says so; parked work merged
by hand since says so; and while work waits to land or is at work, the conflict matrix is
computed afresh (approved branches pairwise, predictions for work in progress), as no landing
pass journaled one for it (`run --no-merge`, a parked run)."""

from __future__ import annotations

from pathlib import Path

from launcher.app import kept_claims
from launcher.app.context import state_dir
from launcher.app.land import recovery
from launcher.app.land.unfinished import on_target_unrecorded
from launcher.app.queue import matrix
from launcher.app.report import build_report, effective_status
from launcher.app.run.grading import withdrawal_reason
from launcher.git import target_tree
from launcher.git.repo import GitRepo
from launcher.models.report import RunReport, TaskReport
from launcher.models.states import RunStatus, TaskState
from launcher.store.files import RunFiles
from launcher.store.journal import Journal, RunRow, TaskRow


async def current_report(repo: GitRepo, journal: Journal, run_id: str) -> RunReport:
    report = build_report(journal, run_id, repo.root)
    if report.artifacts and not Path(report.artifacts).is_dir():  # removed (`clean --older-than`), or not yet made
        report.artifacts = ""
    await mark_withdrawn_approvals(repo, journal, report)
    await _forget_gone_places(repo, report)
    await _note_tasks_of_unfinished_landing(repo, journal, report)
    await _note_parked_work_merged_by_hand(repo, report)
    # The running trees of a run a live launcher drives: what it recorded (app/queue/touched.py).
    now = await matrix.live(repo, journal.tasks(run_id), report.base_sha, RunFiles(state_dir(repo), run_id).run_dir,
                            journal.run(run_id).driven_elsewhere)
    if now is not None:  # work waits to land or is at work: the matrix as it stands now
        report.conflicts = now
    return report


async def _forget_gone_places(repo: GitRepo, report: RunReport) -> None:
    """A task's branch or worktree deleted since the journal recorded it is not shown as kept:
    the report names only what is there now (one listing of the branches), and neither do the
    tasks' messages and the notes ("...; branch kept", "its commits are kept at REF":
    app/kept_claims.py)."""
    waiting = [task for task in report.tasks if not task.merged and (task.branch or task.worktree)]
    claims = [text for text in [t.message for t in report.tasks] + [n.message for n in report.notes]
              if kept_claims.mentions_kept(text)]
    if not waiting and not claims:
        return
    own_refs = f"refs/launcher/{report.run_id}/"
    listed = await repo.git("for-each-ref", "--format=%(refname)", "refs/heads/",
                            *([own_refs] if claims else []), check=False)
    refs = listed.out.splitlines() if listed.ok else None
    branches = {ref.removeprefix("refs/heads/") for ref in refs if ref.startswith("refs/heads/")} if refs else None
    for task in waiting:
        if task.branch and branches is not None and task.branch not in branches:
            task.branch = None
        if task.worktree and not Path(task.worktree).is_dir():
            task.worktree = None
    if not claims:
        return
    saved = [ref for ref in refs if ref.startswith(own_refs)] if refs is not None else None

    def places(task: TaskReport | None) -> kept_claims.Places:
        return kept_claims.Places(has_branch=task is None or task.branch is not None,
                                  has_worktree=task is None or task.worktree is not None,
                                  branches=branches, refs=saved, ref_prefix=own_refs)

    by_id = {task.id: task for task in report.tasks}
    for task in report.tasks:
        task.message = kept_claims.true_now(task.message, places(task))
    for note in report.notes:
        note.message = kept_claims.true_now(note.message, places(by_id.get(note.task or "")))


async def _note_tasks_of_unfinished_landing(repo: GitRepo, journal: Journal, report: RunReport) -> None:
    """The approved tasks of a landing its launcher left half-done, once the target holds their
    merge commits (the ref moved before the launcher was killed): the journal still says
    `approved`, not merged, and git says they are on the target. Both are shown, and how to
    finish it; `merged` stays false (not recorded, and the main work tree may be behind)."""
    record = journal.landing(report.run_id)
    if record is None or record["done"] or not await recovery.landing_reached_target(repo, record, report.target):
        return
    for task in report.tasks:
        if task.id in record["tasks"] and not task.merged and task.state == TaskState.APPROVED.value:
            task.landing_unfinished = on_target_unrecorded(record, task.id, report.run_id, report.target)


async def _note_parked_work_merged_by_hand(repo: GitRepo, report: RunReport) -> None:
    """A parked run whose integration branch the user has merged since: the journal does not
    know yet (`launcher land` records it), so the message says what is true now. An integration
    branch that no longer exists is not shown as where the work is."""
    branch = report.integration_branch
    if not branch:
        return
    held = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    if not held.ok:  # deleted since (a cancelled run's branches are removed): point at nothing gone
        report.integration_branch = report.landed_on = None
        return
    if report.status != "parked":
        return
    target = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{report.target}", check=False)
    if held.ok and target.ok and await target_tree.adds_nothing(repo, held.out.strip(), target.out.strip()):
        report.message = (f"the approved work parked on {branch} is on {report.target} now (merged "
                          f"since); `launcher land {report.run_id}` records it as landed")


async def withdrawn_approvals(repo: GitRepo, rows: list[TaskRow], base_sha: str,
                              tips: dict[str, str] | None = None) -> dict[str, str]:
    """Each approved task whose approval no longer holds (its branch changed or was deleted
    since) -> why. `tips`: the branches' commits, listed once by the caller (`branch_tips`)."""
    withdrawn = {}
    for row in rows:
        if row.state is TaskState.APPROVED and (why := await withdrawal_reason(repo, row, base_sha, tips)):
            withdrawn[row.task_id] = why
    return withdrawn


def status_with_withdrawals(status: str, withdrawn: dict[str, str]) -> str:
    """A run that `succeeded` (or is `parked`) with approvals withdrawn since is `failed`: that
    work will not land (`launcher land` blocks it)."""
    if withdrawn and status in (RunStatus.SUCCEEDED.value, RunStatus.PARKED.value):
        return RunStatus.FAILED.value
    return status


async def status_now(repo: GitRepo, journal: Journal, run: RunRow, tips: dict[str, str] | None = None) -> str:
    """The status `current_report` gives `run` (what `status` prints), read without building its
    report: `launcher runs` prints it for each run. Git is asked only about the approved tasks
    of a run that `succeeded` or is `parked` (the only status their withdrawal changes)."""
    status = effective_status(run, journal.landing(run.id))[0]
    if status not in (RunStatus.SUCCEEDED.value, RunStatus.PARKED.value):
        return status
    return status_with_withdrawals(status, await withdrawn_approvals(repo, journal.tasks(run.id), run.base_sha, tips))


async def mark_withdrawn_approvals(repo: GitRepo, journal: Journal, report: RunReport) -> None:
    """An approved task whose branch changed since says so: its approval no longer holds. Nor
    does the run's success: that work will not land (`launcher land` blocks it), so a run that
    `succeeded` (or is `parked`) is `failed`, exit 1, and its message names those tasks."""
    withdrawn = await withdrawn_approvals(repo, journal.tasks(report.run_id), report.base_sha)
    for task in report.tasks:
        if task.state == TaskState.APPROVED.value:
            task.approval_withdrawn = withdrawn.get(task.id)
    status = status_with_withdrawals(report.status, withdrawn)
    if status != report.status:
        report.status = status
        reasons = [task.approval_withdrawn or "" for task in report.tasks if task.id in withdrawn]
        how = ("changed after approval; re-grade with `launcher grade {run} TASK`"
               if all("changed after approval" in r for r in reasons)
               else "its branch changed or was deleted after approval; `launcher status {run}` says how to go on")
        said = f"approval withdrawn: {', '.join(t.id for t in report.tasks if t.id in withdrawn)} " \
               f"({how.format(run=report.run_id)})"
        report.message = f"{report.message}; {said}" if report.message else said
