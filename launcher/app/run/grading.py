"""Grading inside a run: rubric composition, the relay round, revision, the cap and its choices."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from launcher.app.context import DEFAULT_TIMEOUT_S, RunContext
from launcher.app.run import include_screen, resume_point
from launcher.app.run.tech_debt import record_tech_debt
from launcher.app.run.tree_commands import check_env_names, guarding_installs, run_env
from launcher.engine.agent_round import Limits
from launcher.gates import relay
from launcher.gates.ledgers import TECH_DEBT_FILE, lessons_for_grader
from launcher.gates.rubric import compose
from launcher.gates.verdict import feedback_markdown
from launcher.git import patches, worktrees
from launcher.git.repo import Change, GitRepo, shown_output
from launcher.models.plan import Task
from launcher.models.rubric import all_criteria
from launcher.models.states import TaskState
from launcher.regular_files import read_json_or_none
from launcher.store.files import atomic_write_json, atomic_write_text
from launcher.store.journal import NO_CHANGES, TaskRow

Choice = Literal["approve", "continue", "tech-debt", "defer"]


def grader_name(ctx: RunContext) -> str | None:
    return ctx.settings.grader


def iteration_cap(ctx: RunContext) -> int:
    return ctx.settings.iteration_cap


def read_facts(path: Path) -> dict[str, Any]:
    data = read_json_or_none(path)  # in the agent's reach: a regular file only, bounded
    return data if isinstance(data, dict) else {}


def feedback_path(ctx: RunContext, task_id: str, iteration: int) -> Path:
    return ctx.files.task_dir(task_id) / "grading" / f"{iteration}-feedback.md"


async def change_set_hash(ctx: RunContext, start: str, head: str) -> str:
    """sha256 over the sorted changed paths and their blob ids: the change an approval covers."""
    return await _change_set_hash(ctx.repo, start, head)


# (git dir, start, head) -> change-set hash, for full commit ids only (a ref name can move).
# Commits are immutable, so the hash of a pair never changes: landing re-checks an approval
# made in this process without another `git diff`.
_HASHES: dict[tuple[str, str, str], str] = {}
_COMMIT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


async def _change_set_hash(repo: GitRepo, start: str, head: str) -> str:
    key = (str(repo.common_dir), start, head)
    if key in _HASHES:
        return _HASHES[key]
    return remember_change_set(repo, start, head, await repo.changed_entries(start, head))


def remember_change_set(repo: GitRepo, start: str, head: str, changes: list[Change]) -> str:
    """The change-set hash of `changes` (`repo.changed_entries(start, head)`), kept for the
    approval and the landing's re-check: the round's collection already listed them."""
    entries = sorted(f"{change.path} {change.blob}" for change in changes)
    digest = hashlib.sha256("\n".join(entries).encode("utf-8", "surrogatepass")).hexdigest()  # a name's odd bytes too
    if _COMMIT_ID.fullmatch(start) and _COMMIT_ID.fullmatch(head):
        _HASHES[(str(repo.common_dir), start, head)] = digest
    return digest


async def approve(ctx: RunContext, task_id: str, message: str) -> bool:
    """Bind the approval to the change set; a task that changed nothing is cleaned up instead,
    and one whose branch commits a copied include file fails (False), as its landing would."""
    row = ctx.journal.task(ctx.run_id, task_id)
    start_sha = row.start_sha or ctx.base_sha
    if row.head_sha == start_sha:
        ctx.idle_trees.forget(task_id)
        if row.worktree:
            await worktrees.remove_worktree(ctx.repo, Path(row.worktree), branch=row.branch,
                                            delete_branch=True)
        ctx.transition(task_id, TaskState.SKIPPED, f"{NO_CHANGES}: worktree and branch removed")
        return True
    if (refused := await include_screen.refusal(ctx.repo, row, ctx.target, ctx.base_sha)) is not None:
        # The landing would refuse it (and an export must not carry it): not approved at all.
        ctx.transition(task_id, TaskState.FAILED, f"refused at approval: {refused}; branch kept")
        return False
    digest = await change_set_hash(ctx, start_sha, row.head_sha or start_sha)
    ctx.transition(task_id, TaskState.APPROVED, message, approval_hash=digest)
    return True


async def approve_once(ctx: RunContext, task_id: str, message: str) -> bool:
    """Approve after a grading round, unless the round already settled the task (an on-cap
    `approve` policy approves at escalation: a second "rubric satisfied" would be false)."""
    row = ctx.journal.task(ctx.run_id, task_id)
    if row.state in (TaskState.APPROVED, TaskState.SKIPPED):
        return row.succeeded
    return await approve(ctx, task_id, message)


async def approval_holds(ctx: RunContext, task_id: str, tips: dict[str, str] | None = None) -> str | None:
    """None when the approval still covers the branch, else why it was withdrawn. `tips`
    (branch -> commit, from `branch_tips`) spares a `git rev-parse` per task."""
    return await withdrawal_reason(ctx.repo, ctx.journal.task(ctx.run_id, task_id), ctx.base_sha, tips)


async def branch_tips(repo: GitRepo, prefix: str) -> dict[str, str]:
    """Every branch under `prefix` (e.g. `launcher/<run>/`) -> its commit, in one git process."""
    listed = await repo.git("for-each-ref", "--format=%(objectname) %(refname)", f"refs/heads/{prefix}")
    tips = {}
    for line in listed.out.splitlines():
        sha, _, ref = line.partition(" ")
        tips[ref.removeprefix("refs/heads/")] = sha
    return tips


async def withdrawal_reason(
    repo: GitRepo, row: TaskRow, base_sha: str, tips: dict[str, str] | None = None
) -> str | None:
    """Why an approved task's approval no longer covers its branch (None: it still does)."""
    if not row.approval_hash or not row.branch or not row.head_sha:
        return None
    current = tips.get(row.branch) if tips is not None else None
    if current is None:  # not listed (a `land --from` branch of another run's name), or gone
        tip = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{row.branch}", check=False)
        if not tip.ok:
            return await _branch_gone(repo, row)
        current = tip.out.strip()
    digest = await _change_set_hash(repo, row.start_sha or base_sha, current)
    if current != row.head_sha:
        return (f"approval withdrawn: {row.branch} changed after approval "
                f"({row.head_sha[:12]} -> {current[:12]}); re-grade with `launcher grade`")
    if digest != row.approval_hash:  # same head: the recorded approval itself was altered
        return (f"approval withdrawn: the recorded approval of {row.branch} does not match its "
                f"changes at {current[:12]} (the journal or an export was edited); re-grade it "
                "with `launcher grade`, or re-run the shard that exported it")
    return None


async def _branch_gone(repo: GitRepo, row: TaskRow) -> str:
    """The approved branch was deleted: nothing of it can land, whatever the journal recorded."""
    assert row.branch and row.head_sha
    held = await repo.git("cat-file", "-e", f"{row.head_sha}^{{commit}}", check=False)
    fix = (f"put it back with `git branch {row.branch} {row.head_sha}`, then `launcher grade {row.run_id} "
           f"{row.task_id}` approves it again" if held.ok
           else "its approved commit is gone too: run the task again (`launcher resume --retry-failed`)")
    return f"approval withdrawn: its branch {row.branch} no longer exists (deleted after approval); {fix}"


def _record_round(ctx: RunContext, task_id: str, iteration: int, result: relay.GradeResult) -> None:
    ctx.journal.record_round(ctx.run_id, task_id, iteration,
                             verdict=result.verdict.verdict if result.verdict else None,
                             audit=result.audit, error_key=result.error_key, verdict_sha256=result.verdict_sha256)


async def grade_task(ctx: RunContext, task: Task, iteration: int, facts: dict[str, object],
                     after_grader: Callable[[], Awaitable[str | None]] | None = None) -> TaskState:
    """One grading round; returns APPROVED, NEEDS_REVISION, or the state the cap led to.
    `after_grader`: checks what the grader changed outside its scratch tree, before its verdict
    is acted on; what it says escalates the task (the grader, not the work, is at fault)."""
    row = ctx.journal.task(ctx.run_id, task.id)
    name = grader_name(ctx)
    assert name is not None
    rubrics = compose(task.rubrics, role=task.role, task_kind=task.kind, repo_root=ctx.repo.root)
    ids = [c.id for c in all_criteria(rubrics)]
    config = ctx.agent_config(task.model_copy(update={"agent": name}))
    start_sha = row.start_sha or ctx.base_sha
    head = row.head_sha or start_sha
    artifacts = ctx.files.task_dir(task.id)
    lessons, lessons_note = lessons_for_grader(ctx.repo.root)
    if lessons_note:
        ctx.note(task.id, lessons_note)
    spec = relay.GradingInput(
        run_id=ctx.run_id, task=task, grader_name=name, grader_config=config, rubrics=rubrics,
        iteration=iteration, head_sha=head, start_sha=start_sha,
        diff=shown_output(await patches.patch(ctx.repo, start_sha, head, binary=False), "diff"),
        contract=row.contract or {}, facts=dict(facts),
        lessons=lessons,
        grading_dir=artifacts / "grading",
        scratch=ctx.worktree_root / ctx.run_id / worktrees.GRADING / f"{task.id}-{iteration}",
        limits=Limits(timeout_s=config.timeout_s or ctx.plan.run.timeout_s or DEFAULT_TIMEOUT_S,
                      inactivity_s=config.inactivity_timeout_s),
        port_base=ctx.port_base(task.id), check_env=check_env_names(ctx, task),
        on_verdict_written=lambda written: _record_round(ctx, task.id, iteration, written),
    )
    digest = ctx.journal.verdict_digest(ctx.run_id, task.id, iteration)
    result = resume_point.recorded_grade(spec.grading_dir, iteration, head, ids, digest)
    if result is None:  # its rubric `check:` commands and its grader run in a worktree of the task's code
        async with guarding_installs(ctx, task.id, f"grading round {iteration} of task {task.id}", run_env(ctx, task)):
            result = await relay.grade(ctx.repo, spec)
    for note in result.notes:
        ctx.note(task.id, note)
    if result.attempts:  # 0: a verdict recorded before an interruption, booked back then
        # Every verdict was paid for, whatever it says: book the grader before acting on it.
        ctx.usage.record(ctx.run_id, task.id, "grader", f"grader-{iteration}", result.cost_usd, result.tokens)
        ctx.journal.update_task(ctx.run_id, task.id, cost_usd=ctx.usage.task_cost(ctx.run_id, task.id))
    if result.rubric_checks:  # best-of-N counts them from facts.json, beside the task's checks
        facts_file = artifacts / "facts.json"
        atomic_write_json(facts_file, {**read_facts(facts_file), "rubric_checks": result.rubric_checks})
    verdict = result.verdict
    _record_round(ctx, task.id, iteration, result)
    misconduct = await after_grader() if after_grader is not None else None
    if misconduct:
        # Its verdict does not count: not for the landing's provenance (a choice approves it, not
        # the grader), nor for a resume (no digest: the round is graded again).
        ctx.journal.record_round(ctx.run_id, task.id, iteration, verdict=None, audit=result.audit,
                                 error_key="grader_wrote_outside_its_tree", verdict_sha256=None)
        ctx.transition(task.id, TaskState.ESCALATED,
                       f"{misconduct}; the launcher put it back, and the grader's verdict "
                       f"({result.audit or result.error_key or 'none'}) is not taken: decide with "
                       f"`launcher choose {ctx.run_id} {task.id} approve|continue|tech-debt|defer`, or "
                       f"re-grade with `launcher grade {ctx.run_id} {task.id}`")
        return TaskState.ESCALATED
    if verdict is None:
        why = (f"the grader failed ({result.error_key}: {result.failure})" if result.failure else
               f"the grader gave no valid verdict {relay.MAX_INVALID_IN_A_ROW} times in a row ({result.error_key})")
        ctx.transition(task.id, TaskState.ESCALATED,
                       f"{why}; decide with `launcher choose {ctx.run_id} {task.id} ...`")
        return TaskState.ESCALATED
    if verdict.verdict == "satisfied":
        ctx.note(task.id, result.audit or "", keep=False)  # the round's audit is in the report
        return TaskState.APPROVED
    atomic_write_text(feedback_path(ctx, task.id, iteration), feedback_markdown(verdict, all_criteria(rubrics)))
    if iteration - row.round_base >= iteration_cap(ctx):
        policy = ctx.plan.run.on_cap
        if policy is None:
            ctx.transition(task.id, TaskState.ESCALATED,
                           f"{result.audit}; iteration cap {iteration_cap(ctx)} reached: "
                           f"`launcher choose {ctx.run_id} {task.id} approve|continue|tech-debt|defer`")
            return TaskState.ESCALATED
        # an attempt of a best-of task: the task closes once for all its attempts (one ledger row)
        attempt = any(task.id in t.select_from for t in ctx.plan.tasks)
        return await apply_choice(ctx, task.id, policy, f"--on-cap {policy}", verdict.failing(ids),
                                  ledger=not attempt)
    ctx.transition(task.id, TaskState.NEEDS_REVISION, result.audit or "needs revision",
                   iteration=iteration)
    return TaskState.NEEDS_REVISION


async def apply_choice(ctx: RunContext, task_id: str, choice: Choice, note: str,
                       failing: list[str], *, ledger: bool = True) -> TaskState:
    """The seed's four answers to an escalation (`ledger`: a tech-debt row for this task)."""
    row = ctx.journal.task(ctx.run_id, task_id)
    if choice == "approve":
        approved = await approve(ctx, task_id, f"approved at escalation: {note}")
        return TaskState.APPROVED if approved else TaskState.FAILED
    if choice == "continue":
        ctx.journal.update_task(ctx.run_id, task_id, round_base=row.iteration)
        ctx.transition(task_id, TaskState.NEEDS_REVISION, f"continue: {note}")
        return TaskState.NEEDS_REVISION
    if choice == "tech-debt":
        if ledger:
            record_tech_debt(ctx, task_id, failing, note)
            ctx.transition(task_id, TaskState.TECH_DEBT, f"recorded as technical debt: {note}")
            return TaskState.TECH_DEBT
        # An attempt of a best-of task: no row of its own (said so, not "recorded"); its task gets
        # the one row when every attempt ends so (`best_of._nothing_approved`).
        owner = next((t.id for t in ctx.plan.tasks if task_id in t.select_from), task_id)
        ctx.transition(task_id, TaskState.TECH_DEBT, (
            f"closed as technical debt: {note}; no {TECH_DEBT_FILE} row of its own: one row for task "
            f"{owner!r} is written if every attempt of it ends so (an approved attempt lands instead)"))
        return TaskState.TECH_DEBT
    ctx.transition(task_id, TaskState.DEFERRED, f"deferred: {note}")
    return TaskState.DEFERRED
