"""Build the run report (status --json, run --json) from the journal alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from launcher import process_identity
from launcher.agents.passed_env import plan_secrets
from launcher.app.land.unfinished import unfinished_landing
from launcher.app.queue import matrix
from launcher.app.run.claims import claimed_files, disagreements
from launcher.app.run.epics import epic_members
from launcher.models.redact import mask, mask_contract
from launcher.models.report import (
    EpicReport,
    NoteReport,
    RoundReport,
    RunReport,
    TaskReport,
    UsageReport,
    empty_usage,
)
from launcher.models.states import RunStatus, TaskState, qa_gate_label, rubric_label
from launcher.store.journal import BEST_OF_N, NO_CHANGES, Journal, RunRow, TaskRow
from launcher.store.run_claim import holder_gone, is_self
from launcher.store.usage import Spend, UsageLedger

# Deferred and tech-debt tasks were rejected by the grader and not landed (the operator's or
# `--on-cap`'s choice): not "everything landed", so the run is not `succeeded` (exit 1).
_NOT_LANDED_BY_CHOICE = {TaskState.DEFERRED: "deferred", TaskState.TECH_DEBT: "tech debt"}
_FAILURES = {
    TaskState.FAILED, TaskState.TIMED_OUT, TaskState.BLOCKED, TaskState.CONFLICTED,
    TaskState.CANCELLED, TaskState.ESCALATED, *_NOT_LANDED_BY_CHOICE,
}


def run_status(rows: list[TaskRow], *, merge: bool, reached_target: bool = True) -> RunStatus:
    """`reached_target` False: approved work is parked off the target (or its landing is
    unfinished), which is never `succeeded`."""
    for row in rows:
        if row.state in _FAILURES:
            return RunStatus.FAILED
        if row.state is TaskState.SKIPPED and not row.succeeded:
            return RunStatus.FAILED
        if not row.state.is_final and row.state is not TaskState.APPROVED:
            return RunStatus.INTERRUPTED
    if merge and any(row.state is TaskState.APPROVED for row in rows):
        # Approved work off the target: parked on an integration branch, else never landed.
        return RunStatus.FAILED if reached_target else RunStatus.PARKED
    return RunStatus.SUCCEEDED if reached_target or not merge else RunStatus.PARKED


def run_message(rows: list[TaskRow], message: str) -> str:
    """The run's message, with the tasks left unlanded by a choice (defer, tech-debt) named
    when they are why the run did not succeed."""
    if message == "nothing to land" and (landed := sum(1 for row in rows if row.merged)):
        # a later pass (`land`, `resume`) that lands nothing more: the run did land work
        message = f"nothing more to land ({landed} task(s) landed by an earlier pass)"
    chosen = [f"{row.task_id} ({_NOT_LANDED_BY_CHOICE[row.state]})" for row in rows
              if row.state in _NOT_LANDED_BY_CHOICE]
    if not chosen:
        return message
    said = f"not landed by choice: {', '.join(chosen)}"
    return said if message in ("", "nothing to land") else f"{message}; {said}"


_EPIC_BLOCK = {"blocked", "failed", "timed_out", "conflicted", "cancelled", "escalated", "skipped"}
_EPIC_DEFER = {"deferred", "tech_debt"}


def epic_reports(tasks: list[TaskReport], epics: dict[str, str]) -> list[EpicReport]:
    """Per epic: the decision (block beats defer beats pass; pending while any task runs) and the
    files more than one of its tasks changed."""
    reports = []
    for epic in sorted(set(epics.values())):
        members = [t for t in tasks if epics.get(t.id) == epic]
        # A task skipped because it changed nothing passes; one skipped for a failed dependency blocks.
        states = {"unchanged" if t.message.startswith((NO_CHANGES, BEST_OF_N)) else t.state for t in members}
        if states & _EPIC_BLOCK:
            decision = "block"
        elif states & _EPIC_DEFER:
            decision = "defer"
        elif states <= {"approved", "merged", "unchanged"}:
            decision = "pass"
        else:
            decision = "pending"
        touched: dict[str, list[str]] = {}
        for t in members:
            for path in t.files:
                touched.setdefault(path, []).append(t.id)
        shared = {path: ids for path, ids in sorted(touched.items()) if len(ids) > 1}
        reports.append(EpicReport(id=epic, decision=decision, tasks=[t.id for t in members],
                                  shared_files=shared))
    return reports


def _dollars(value: float | None) -> float | None:
    """Sums of reported costs, without float noise (3.0591000000000004): to a millionth."""
    return None if value is None else round(value, 6)


def _usage(spend_by_role: dict[str, Spend]) -> dict[str, UsageReport]:
    usage = empty_usage()
    for role, spend in spend_by_role.items():
        usage[role] = UsageReport(cost_usd=_dollars(spend.cost_usd), tokens=dict(spend.tokens))
    return usage


def _run_usage(spend: dict[str, dict[str, Spend]]) -> dict[str, UsageReport]:
    """Summed over every booked process (not over task rows: a best-of task repeats its attempts)."""
    totals: dict[str, Spend] = {}
    for by_role in spend.values():
        for role, part in by_role.items():
            totals.setdefault(role, Spend()).add(part.cost_usd, part.tokens)
    return _usage(totals)


def _spend(journal: Journal, run_id: str) -> dict[str, dict[str, Spend]]:
    ledger = UsageLedger(journal.path)
    try:
        return ledger.by_task(run_id)
    finally:
        ledger.close()


def effective_status(run: RunRow, landing: dict[str, Any] | None = None) -> tuple[str, str]:
    """The run's status and message as they are now: a run journaled as running whose launcher
    is gone was interrupted; so is one whose journaled `landing` was left unfinished (a `land`
    or `run` killed between moving the target and recording it), whatever its row says."""
    pid = run.launcher_pid
    unfinished = unfinished_landing(landing, run.id, run.target)
    if run.status is RunStatus.RUNNING and run.prior_status is not None:
        # Claimed by a command (alive or killed) that has changed nothing: the run's own status.
        run = dataclasses.replace(run, status=run.prior_status)
    if run.status is RunStatus.RUNNING and holder_gone(pid, run.launcher_started):
        # Killed (SIGKILL, a crash of the machine) before it could journal that it stopped.
        gone = f"its launcher (pid {pid}) is gone without saving its state (killed?)"
        return RunStatus.INTERRUPTED.value, (f"{gone}; {unfinished}" if unfinished
                                             else f"{gone}; `launcher resume {run.id}` continues")
    if run.status is RunStatus.RUNNING and pid and not is_self(pid, run.launcher_started):
        # Driven by another live launcher: that is what is true now. The row's message may be an
        # earlier state's ("`launcher resume` continues"), advice a second launcher is refused.
        if process_identity.stopped(pid):
            return run.status.value, f"its launcher (pid {pid}) {process_identity.stop_advice(pid).removeprefix('it ')}"
        return run.status.value, (f"being driven by launcher pid {pid}: another command that drives this run "
                                  "(resume, land, choose, grade) is refused until it finishes")
    if unfinished and run.status is not RunStatus.RUNNING:
        return RunStatus.INTERRUPTED.value, unfinished + (f" (earlier: {run.message})" if run.message else "")
    return run.status.value, run.message


def _agent(spec: dict[str, Any], row: TaskRow, rows: list[TaskRow], plan_tasks: dict[str, Any]) -> str:
    """A task's agent; a best-of-N task's is the agent of the attempt it lands (its branch)."""
    attempts = spec.get("select_from") or []
    landing = next((r.task_id for r in rows if r.task_id in attempts and row.branch and r.branch == row.branch), None)
    chosen = plan_tasks.get(landing, {}) if landing else spec
    return str(chosen.get("agent", "") or spec.get("agent", ""))


def build_report(journal: Journal, run_id: str, repo_root: Path) -> RunReport:
    run = journal.run(run_id)
    plan_tasks = {t["id"]: t for t in run.plan.get("task", [])}
    spend = _spend(journal, run_id)
    secrets = plan_secrets(run.plan)  # agent and check output is reported with these masked
    tasks = []
    rows = journal.tasks(run_id)
    for row in rows:
        spec = plan_tasks.get(row.task_id, {})
        rounds = [RoundReport(**r) for r in journal.rounds(run_id, row.task_id)]
        unchanged, unclaimed = (disagreements(claimed_files(row.contract), row.files)
                                if row.contract is not None else ([], []))
        tasks.append(
            TaskReport(
                id=row.task_id, title=spec.get("title", ""), role=spec.get("role", ""),
                agent=_agent(spec, row, rows, plan_tasks), state=row.state.value, branch=row.branch,
                worktree=row.worktree, head_sha=row.head_sha, merged=row.merged,
                cost_usd=_dollars(row.cost_usd), duration_s=row.duration_s, files=row.files,
                message=mask(row.message, secrets, commands=True), contract=mask_contract(row.contract, secrets),
                rounds=rounds,
                qa_gate=qa_gate_label(row.state),
                rubric_gate=rubric_label(rounds[-1].verdict if rounds else None),
                usage=_usage(spend.get(row.task_id, {})),
                claimed_not_changed=unchanged, changed_not_claimed=unclaimed,
            )
        )
    conflicts, queue = matrix.recorded(journal.path, run_id)
    queue.culprits = _culprit_attempts(queue.culprits, plan_tasks, rows)
    merged = {t.id for t in tasks if t.merged}
    # A pair whose tasks both landed is settled: a prediction proved wrong, or a conflict resolved
    # (a resolution round, a later pass on the moved target). The matrix is the one that stands
    # while work waits to land; the queue's counts keep the history.
    conflicts = [c for c in conflicts if not {c.a, c.b} <= merged]
    landed_on = run.landed_on
    parked = landed_on is not None and landed_on != run.target
    status, message = effective_status(run, journal.landing(run_id))
    own = run.prior_status if run.status is RunStatus.RUNNING and run.prior_status is not None else run.status
    error_code = run.exit_code if status == RunStatus.INTERRUPTED.value and own is RunStatus.INTERRUPTED else None
    return RunReport(
        run_id=run_id, status=status, repo=run.repo, base_sha=run.base_sha,
        target=run.target, integration_branch=landed_on if parked else None,
        landed_on=landed_on, message=mask(message, secrets, commands=True), error_exit_code=error_code,
        artifacts=str(repo_root / ".launcher" / "runs" / run_id), tasks=tasks,
        epics=epic_reports(tasks, epic_members(list(plan_tasks.values()))),
        usage=_run_usage(spend), conflicts=conflicts, queue=queue,
        notes=[NoteReport(task=n["task_id"], at=n["at"], message=mask(n["message"], secrets, commands=True))
               for n in journal.notes(run_id)],
    )


_BLAMED_ATTEMPT = f"{BEST_OF_N} selected, then not landed: breaks the integration check"


def _culprit_attempts(culprits: list[str], plan_tasks: dict[str, Any], rows: list[TaskRow]) -> list[str]:
    """The queue blames the candidate it folded: for a best-of-N task, the attempt that was landing
    as it then (the task itself lands another attempt, or none). Named by the attempt's id, a task
    of the report, in place of the task's."""
    by_id = {row.task_id: row for row in rows}
    named: list[str] = []
    for culprit in culprits:
        attempts = plan_tasks.get(culprit, {}).get("select_from") or []
        blamed = [a for a in attempts if a in by_id and by_id[a].message.startswith(_BLAMED_ATTEMPT)]
        named.extend(blamed or [culprit])
    return list(dict.fromkeys(named))
