"""What a workflow's state says, checked against git and against itself before it is said: the
target branch still exists, every succeeded phase's landed work is still on it, a completed
workflow names the phases it skipped, a reviewer's rejection fails its phase, and a checkpoint
never overwrites why a workflow ended or paused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from launcher.app.context import open_journal
from launcher.errors import LauncherError, UsageProblem
from launcher.git import change_present
from launcher.git.repo import GitRepo
from launcher.models.report import RunReport
from launcher.models.workflow import Phase, PhaseState, PhaseStatus, WorkflowState, WorkflowStatus

REJECTED = "the review rejected the work"  # the start of a rejected phase's error
LOST_WORK = "lost_work"  # the option naming the phases a workflow paused for, their work lost


async def check_target(repo: GitRepo, state: WorkflowState) -> str:
    """The target branch's tip; refused (exit 2, naming the workflow and a way on) when the
    branch the workflow lands on was renamed or deleted since it started."""
    found = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{state.target}^{{commit}}", check=False)
    if found.ok and found.out.strip():
        return found.out.strip()
    landed = [p.landed_sha for p in state.phases if p.status is PhaseStatus.SUCCEEDED and p.landed_sha]
    commit = landed[-1] if landed else state.base_sha
    raise UsageProblem(
        f"workflow {state.id}'s target branch {state.target} no longer exists (renamed or deleted since the "
        "workflow started), so no phase can start from it or land on it",
        where=str(repo.root),
        fix=f"recreate it (`git branch {state.target} {commit[:12]}`, the last commit the workflow knows it at, "
            f"or rename the branch back), then run the command again; or cancel the workflow "
            f"(`launcher workflow cancel {state.id}`)",
        error_key="workflow_target_missing")


@dataclass(frozen=True)
class LostPhase:
    """A succeeded phase whose landed work the target no longer holds; `apart`: the target's
    history no longer shares any commit with what it landed (rewritten since: `git merge`
    refuses such a commit), so the way back is to apply its change again."""

    row: PhaseState
    apart: bool


def _task_commits(repo: GitRepo, row: PhaseState) -> list[Any]:
    """The landed task commits the phase recorded; for a phase an older launcher recorded
    without them, looked up in its run's journal rows (its start..landed diff would also hold
    whatever else reached the target meanwhile: a user's own commit dropped later would make the
    phase look lost)."""
    merged = [t for t in row.tasks if t.get("merged")]
    commits = [t.get("commit") for t in merged]
    if not merged or all(isinstance(c, str) and c for c in commits):
        return commits
    try:
        journal = open_journal(repo)
        return [t.get("commit") or journal.task(str(t.get("run") or row.run_id), str(t.get("id"))).merge_commit
                for t in merged]
    except (LauncherError, OSError):
        return commits  # no journal row to ask: judged by the recorded tip


async def _held_alone(repo: GitRepo, row: PhaseState, target: str) -> bool:
    commits = _task_commits(repo, row)
    if commits and all(isinstance(c, str) and c for c in commits):
        return all([await change_present.commit_held(repo, str(c), target) for c in commits])
    return await change_present.is_ancestor(repo, str(row.landed_sha), target) or bool(
        row.start_sha and await change_present.change_present(repo, row.start_sha, str(row.landed_sha), target))


async def _held_combined(repo: GitRepo, row: PhaseState, later: list[PhaseState], target: str) -> bool:
    """Its work judged with what was built on it: a task of the phase, or a later phase whose
    landed tip descends from this one's (the newest such), may have changed the same lines on
    purpose, so the change from this phase's start to that tip must be in the target's tree."""
    if not row.start_sha or not row.landed_sha:
        return False
    tip = row.landed_sha
    for newer in reversed(later):
        if newer.landed_sha and await change_present.is_ancestor(repo, row.landed_sha, newer.landed_sha):
            tip = newer.landed_sha
            break
    return await change_present.change_present(repo, row.start_sha, tip, target)


async def lost_work(repo: GitRepo, state: WorkflowState) -> list[LostPhase]:
    """The succeeded phases whose landed work the target no longer holds (a `git reset --hard`,
    a force-push or `update-ref` took it away). Each landed task's commit decides: in the
    target's history, or (history rewritten: squashed, rebased, an unrelated commit dropped) its
    change still in the target's tree. A phase recorded without its tasks' commits (by an older
    launcher, or landed by the operator) is judged by its recorded tip and change, the same way.
    A phase whose lines one of its own tasks or a later phase built on it changed is held when
    the change from its start to that phase's landed tip is in the target's tree (the combined
    work)."""
    await check_target(repo, state)
    target = f"refs/heads/{state.target}"
    landed = [row for row in state.phases if row.status is PhaseStatus.SUCCEEDED and row.landed_sha]
    lost = []
    for at, row in enumerate(landed):
        if await _held_alone(repo, row, target) or await _held_combined(repo, row, landed[at + 1:], target):
            continue
        base = await repo.git("merge-base", str(row.landed_sha), target, check=False)
        lost.append(LostPhase(row, apart=not (base.ok and base.out.strip())))
    return lost


def _put_back(lost: LostPhase) -> str:
    sha = (lost.row.landed_sha or "")[:12]
    if not lost.apart:
        return f"`git merge {sha}`"
    if lost.row.start_sha:  # `git merge` refuses unrelated histories: apply the phase's change again
        return f"`git diff {lost.row.start_sha[:12]} {sha} | git apply --3way` then `git commit`"
    return f"`git cherry-pick {sha}`"


def _lost_what(state: WorkflowState, lost: list[LostPhase]) -> tuple[str, str]:
    """(what the target no longer holds, how to put it back)."""
    named = ", ".join(f"{item.row.id} ({(item.row.landed_sha or '')[:12]})" for item in lost)
    how = " and ".join(_put_back(item) for item in lost)
    return (f"{state.target} no longer holds what phase {named} landed (the branch was reset or force-updated "
            "since)", f"put it back ({how} on {state.target})")


def lost_message(state: WorkflowState, lost: list[LostPhase]) -> str:
    what, put_back = _lost_what(state, lost)
    return (f"paused: {what}, so the workflow cannot go on from it nor say it completed; {put_back}, then "
            f"`launcher workflow resume {state.id}`; or cancel the workflow (`launcher workflow cancel {state.id}`)")


async def refuse_retry_on_lost_work(repo: GitRepo, state: WorkflowState) -> None:
    """`resume --retry-failed` runs the failed phase again from the target, as `next` runs a
    phase: refused (exit 2, the workflow left paused on it as it was) while the target lacks
    what an earlier phase landed, which the retry would otherwise build on the loss of."""
    if lost := await lost_work(repo, state):
        what, put_back = _lost_what(state, lost)
        raise UsageProblem(
            f"workflow {state.id}: {what}, so phase {state.paused_on} is not retried on top of that loss",
            where=str(repo.root),
            fix=f"{put_back}, then `launcher workflow resume {state.id} --retry-failed` again; or cancel the "
                f"workflow (`launcher workflow cancel {state.id}`)", error_key="workflow_lost_work")


def pause_for_lost(state: WorkflowState, lost: list[LostPhase]) -> None:
    """Pause (as an operator's pause: `resume` then `next` checks again) naming the lost work;
    `options["lost_work"]` names its phases until `resume` (not success: `next` exits 1)."""
    state.status, state.resume_to, state.paused_on = WorkflowStatus.PAUSED, WorkflowStatus.READY, None
    state.runner_pid = None
    state.options[LOST_WORK] = [item.row.id for item in lost]
    state.message = lost_message(state, lost)


def completion_message(state: WorkflowState) -> str:
    skipped = [row.id for row in state.phases if row.status is PhaseStatus.SKIPPED]
    if skipped:
        return f"every phase finished; skipped: {', '.join(skipped)} (its work is not on {state.target})"
    return "every phase finished"


def still_paused(state: WorkflowState) -> str:
    if state.status is not WorkflowStatus.PAUSED:
        return ""
    return f"; the workflow is still paused: `launcher workflow resume {state.id}` continues"


def checkpoint_refusal(state: WorkflowState) -> UsageProblem | None:
    """Why a checkpoint may not be recorded now (nothing changed): the workflow ended, or it is
    paused on a failed or parked phase, whose message (why, and the way on) must stay."""
    if state.status.is_final:
        what, fix = "it has already ended", f"`launcher workflow status {state.id}`; start a new one with " \
            "`launcher workflow start NAME`"
    elif state.status is WorkflowStatus.PAUSED and state.paused_on:
        what, fix = f"it is paused on phase {state.paused_on}, which a checkpoint does not release", state.message
    else:
        return None
    return UsageProblem(f"workflow {state.id} is {state.status.value}: {what}", fix=fix,
                        error_key=f"workflow_{state.status.value}")


def _items(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value if str(item).strip()]
    return [str(value)] if isinstance(value, str) and value.strip() else []


def verdict(contract: dict[str, Any] | None) -> dict[str, Any] | None:
    """A QA contract's rejection (DESIGN 7.1: `approved`, `qa_status`, `must_fix`,
    `issues_found`): `approved: false`, a `qa_status` that rejects, or a non-empty `must_fix`
    list. None when the contract approves or says nothing of it."""
    contract = contract or {}
    status = str(contract.get("qa_status") or "").strip().lower()
    must_fix = _items(contract.get("must_fix"))
    if contract.get("approved") is False or status in ("rejected", "failed", "changes_requested") or must_fix:
        return {"approved": False, "qa_status": status or None, "must_fix": must_fix,
                "issues_found": _items(contract.get("issues_found"))}
    return None


def rejections(report: RunReport, phase: Phase) -> dict[str, dict[str, Any]]:
    """The phase's own tasks whose contract rejects the work, by task id."""
    ids = phase.task_ids()
    found = {}
    for task in report.tasks:
        if task.id in ids and (said := verdict(task.contract)) is not None:
            found[task.id] = said
    return found


def rejection_error(run_id: str, found: dict[str, dict[str, Any]]) -> str:
    parts = []
    for task_id, said in found.items():
        items = said["must_fix"] or said["issues_found"]
        parts.append(f"{task_id}: " + ("must fix: " + "; ".join(items) if items else "approved: false"))
    return f"{REJECTED} (run {run_id}): " + " | ".join(parts)
