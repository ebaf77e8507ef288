"""Best-of-N: pick the winning attempt, hand its branch to the task, clean up the others."""

from __future__ import annotations

import json
from pathlib import Path

from launcher.app.context import RunContext
from launcher.git import worktrees
from launcher.models.plan import Task
from launcher.models.states import TaskState
from launcher.store.journal import BEST_OF_N, TaskRow


def attempt_env(ctx: RunContext, task_id: str) -> dict[str, str]:
    """A best-of-N attempt's number and N, so an agent can tell the attempts apart
    (`LAUNCHER_ATTEMPT` counts the process attempts of one task: corrective rounds)."""
    for task in ctx.plan.tasks:
        if task_id in task.select_from:
            return {"LAUNCHER_BEST_OF_ATTEMPT": str(task.select_from.index(task_id) + 1),
                    "LAUNCHER_BEST_OF_N": str(len(task.select_from))}
    return {}


def _checks_passed(ctx: RunContext, task_id: str) -> int:
    facts = ctx.files.task_dir(task_id) / "facts.json"
    if not facts.is_file():
        return 0
    data = json.loads(facts.read_text(encoding="utf-8"))
    checks = sum(1 for c in data.get("checks", []) if c.get("ok"))
    rubric = sum(1 for c in (data.get("rubric_checks") or {}).values() if c.get("ok"))
    return checks + rubric


async def _diff_lines(ctx: RunContext, row: TaskRow) -> int:
    stat = await ctx.repo.git("diff", "--numstat", row.start_sha or ctx.base_sha, row.head_sha or "HEAD")
    total = 0
    for line in stat.out.splitlines():
        added, deleted, _path = line.split("\t", 2)
        total += int(added) + int(deleted) if added.isdigit() and deleted.isdigit() else 1
    return total


async def select_best(ctx: RunContext, task: Task) -> bool:
    """The winner is an approved attempt with the most passing checks; ties: the smallest diff."""
    rows = [ctx.journal.task(ctx.run_id, attempt) for attempt in task.select_from]
    scored = []
    for position, row in enumerate(rows):
        if row.state is TaskState.APPROVED:
            scored.append((_checks_passed(ctx, row.task_id), -(await _diff_lines(ctx, row)), -position, row))
    if not scored:
        outcomes = "; ".join(f"{r.task_id} {r.state.value}: {r.message[:80]}" for r in rows)
        ctx.transition(task.id, TaskState.FAILED, f"no attempt was approved ({outcomes})")
        return False
    checks, minus_lines, _, winner = max(scored, key=lambda item: item[:3])
    ctx.transition(
        task.id, TaskState.APPROVED,
        f"best of {len(rows)}: {winner.task_id} ({checks} check(s) passed, {-minus_lines} diff lines)",
        branch=winner.branch, worktree=winner.worktree, start_sha=winner.start_sha,
        head_sha=winner.head_sha, included=winner.included, files=winner.files,
        included_blobs=winner.included_blobs,
        contract=winner.contract, approval_hash=winner.approval_hash,
        cost_usd=sum(r.cost_usd or 0.0 for r in rows) or None,
    )
    for row in rows:
        if row is winner:
            ctx.transition(row.task_id, TaskState.SKIPPED, f"{BEST_OF_N} selected; lands as {task.id}")
            continue
        if row.worktree and Path(row.worktree).exists():
            await worktrees.remove_worktree(ctx.repo, Path(row.worktree), branch=row.branch,
                                            delete_branch=True)
        elif row.branch:
            await worktrees.remove_worktree(ctx.repo, ctx.worktree_path(row.task_id),
                                            branch=row.branch, delete_branch=True)
        ctx.transition(row.task_id, TaskState.SKIPPED,
                       f"{BEST_OF_N} not selected ({row.state.value}); worktree and branch removed")
    return True
