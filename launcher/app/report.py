"""Build the run report (status --json, run --json) from the journal alone."""

from __future__ import annotations

from pathlib import Path

from launcher.models.report import RoundReport, RunReport, TaskReport
from launcher.models.states import RunStatus, TaskState, qa_gate_label, rubric_label
from launcher.store.journal import Journal, TaskRow

_FAILURES = {
    TaskState.FAILED, TaskState.TIMED_OUT, TaskState.BLOCKED, TaskState.CONFLICTED,
    TaskState.CANCELLED, TaskState.ESCALATED,
}


def run_status(rows: list[TaskRow], *, merge: bool) -> RunStatus:
    for row in rows:
        if row.state in _FAILURES:
            return RunStatus.FAILED
        if row.state is TaskState.SKIPPED and not row.succeeded:
            return RunStatus.FAILED
        if merge and row.state is TaskState.APPROVED:
            return RunStatus.FAILED  # approved but never landed
        if not row.state.is_final and row.state is not TaskState.APPROVED:
            return RunStatus.INTERRUPTED
    return RunStatus.SUCCEEDED


def build_report(journal: Journal, run_id: str, repo_root: Path) -> RunReport:
    run = journal.run(run_id)
    plan_tasks = {t["id"]: t for t in run.plan.get("task", [])}
    tasks = []
    for row in journal.tasks(run_id):
        spec = plan_tasks.get(row.task_id, {})
        rounds = [RoundReport(**r) for r in journal.rounds(run_id, row.task_id)]
        tasks.append(
            TaskReport(
                id=row.task_id, title=spec.get("title", ""), role=spec.get("role", ""),
                agent=spec.get("agent", ""), state=row.state.value, branch=row.branch,
                worktree=row.worktree, head_sha=row.head_sha, merged=row.merged,
                cost_usd=row.cost_usd, duration_s=row.duration_s, files=row.files,
                message=row.message, contract=row.contract, rounds=rounds,
                qa_gate=qa_gate_label(row.state),
                rubric_gate=rubric_label(rounds[-1].verdict if rounds else None),
            )
        )
    integration = f"launcher/{run_id}/integration"
    landed_on = run.landed_on
    return RunReport(
        run_id=run_id, status=run.status.value, repo=run.repo, base_sha=run.base_sha,
        target=run.target, integration_branch=integration if landed_on == integration else None,
        landed_on=landed_on, message=run.message,
        artifacts=str(repo_root / ".launcher" / "runs" / run_id), tasks=tasks,
    )
