"""One task through the pipeline: provision → run → collect → commit → checks → approved.

The grader relay slots in between checks and approval (`task_verdict.decide`), without touching the rest.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from launcher import process, wall_clock
from launcher.agents.base import AgentRequest
from launcher.agents.registry import get_adapter
from launcher.app.context import RunContext
from launcher.app.run import (
    claims,
    containment,
    contract_dir,
    git_watch,
    grading,
    provision,
    resolution,
    resume_point,
    round_copy,
    task_verdict,
)
from launcher.app.run.best_of import attempt_env, select_best
from launcher.engine import branch_facts
from launcher.engine.agent_round import Limits, RoundResult, run_agent_round
from launcher.engine.orphans import journaling_observer
from launcher.errors import GitFailed, GitTimedOut, LauncherError
from launcher.git import commits, patches, submodules, worktree_admin
from launcher.git.ref_updates import unused_ref
from launcher.models.contract import derived_contract
from launcher.models.plan import Task
from launcher.models.redact import mask, mask_contract, mask_data
from launcher.models.states import TaskState
from launcher.store.files import atomic_write_json, atomic_write_text
from launcher.store.usage import add_outcomes

# States a round reaches only after its work was committed.
_COMMITTED_STATES = {TaskState.COLLECTED, TaskState.CHECKING, TaskState.GRADING}


async def run_task(ctx: RunContext, task_id: str) -> bool:
    """Drive one task to approved (True) or a failure state (False). Re-entrant for resume."""
    task = ctx.plan.task(task_id)
    row = ctx.journal.task(ctx.run_id, task_id)
    if row.succeeded or row.state.is_final:
        return row.succeeded
    if task.select_from:  # escalated too: a choice on one of its attempts may have settled it
        return await select_best(ctx, task)
    if row.state is TaskState.ESCALATED:
        return False  # waits for `launcher choose`
    # Every child this task starts is journaled, so a launcher killed with -9 leaves no orphan.
    with process.observing_spawns(journaling_observer(ctx.journal, ctx.run_id, task_id)):
        try:
            worktree = await provision.provision(ctx, task, row)
            if worktree is None:
                return False
            await resolution.prepare(ctx, task_id, worktree)  # a conflict sent back: merge first
            return await _develop(ctx, task, worktree)
        except LauncherError as exc:
            await _fail(ctx, task_id, TaskState.FAILED, exc.message)
            return False
        finally:
            ctx.idle_trees.finish(task_id)  # none of its code runs any more


async def _fail(ctx: RunContext, task_id: str, state: TaskState, message: str) -> None:
    """A task ends in a failure state. When it failed after its agent committed (its work
    collected or not), its row names the branch's real head and the files it changed: the
    report and `status` never describe its start as its work."""
    row = ctx.journal.task(ctx.run_id, task_id)
    moved = await branch_facts.branch_facts(ctx.repo, row.branch, row.start_sha or ctx.base_sha, row.head_sha)
    fields: dict[str, Any] = {}
    if moved is not None:
        fields["head_sha"] = moved.head
        if moved.files is not None:
            fields["files"] = moved.files
    ctx.transition(task_id, state, message, **fields)


async def _back_on_branch(ctx: RunContext, task_id: str, worktree: Path,
                          branch: str | None) -> commits.LeftBranch | None:
    """An agent that switched to a branch of its own (or detached HEAD) is put back on the
    task's branch, carrying its commits when they build on it."""
    if not branch:
        return None
    save = await unused_ref(ctx.repo, f"refs/launcher/{ctx.run_id}/{task_id}/left-branch-{int(time.time())}")
    left = await commits.return_to_branch(ctx.repo, worktree, branch, save)
    if left is not None and left.carried:
        ctx.note(task_id, f"the agent switched to {left.where}; its commits ({left.head[:12]}) "
                          "were put on the task's branch")
    return left


def _elapsed(started: float, began: float | None) -> float:
    """Seconds since the round began: by the monotonic clock, which no clock step moves (the wall
    clock stepped back by NTP made it negative); a round begun by an earlier launcher process
    only has its wall-clock start, never said to have taken less than nothing."""
    if began is not None:
        return round(time.monotonic() - began, 3)
    return round(max(0.0, time.time() - started), 3)


def _limits(ctx: RunContext, task: Task) -> Limits:
    agent = ctx.agent_config(task)
    inactivity = (
        task.inactivity_timeout_s or agent.inactivity_timeout_s or ctx.plan.run.inactivity_timeout_s
    )
    return Limits(
        timeout_s=provision.task_timeout(ctx, task),
        inactivity_s=inactivity,
        log_cap=int(ctx.config.log_cap_mb * 1024 * 1024),
    )


async def _agent_round(
    ctx: RunContext, task: Task, worktree: Path, iteration: int, attempt: int,
    feedback: Path | None, session_id: str | None = None,
) -> RoundResult:
    config = ctx.agent_config(task)
    numbered = attempt_env(ctx, task.id)
    if numbered:
        config = config.model_copy(update={"set_env": {**config.set_env, **numbered}})
    artifacts = ctx.files.task_dir(task.id)

    def spawned(pid: int) -> None:
        ctx.journal.update_task(ctx.run_id, task.id, agent_pgid=pid)

    adapter = get_adapter(config.adapter)
    await containment.before_round(ctx, task.id)
    # Its contract goes to a private directory of this attempt, never a path another process of
    # the run could guess (contract_dir.py); collected before the directory goes.
    with contract_dir.attempt_contract(ctx.journal, ctx.run_id, task.id, artifacts) as contract_path:
        request = AgentRequest(
            run_id=ctx.run_id, task=task, agent_name=task.agent, config=config, worktree=worktree,
            artifacts=artifacts, base_sha=ctx.base_sha, iteration=iteration,
            contract_path=contract_path, feedback_path=feedback,
            port_base=ctx.port_base(task.id), attempt=attempt, session_id=session_id,
        )
        await worktree_admin.lock_worktree(ctx.repo, worktree, f"launcher run {ctx.run_id}: agent running")
        try:
            result = await run_agent_round(adapter, request, limits=_limits(ctx, task), on_spawn=spawned)
        finally:
            with anyio.CancelScope(shield=True):
                await worktree_admin.unlock_worktree(ctx.repo, worktree)
    await containment.after_round(ctx, task.id)  # before the launcher's own git touches it
    for line in result.supervised.notes if result.supervised else []:  # a line too long to read...
        ctx.note(task.id, f"agent {task.agent} round {iteration}: {line}")
    return result


async def _develop(ctx: RunContext, task: Task, worktree: Path) -> bool:
    try:
        return await _develop_rounds(ctx, task, worktree)
    finally:
        round_copy.forget(ctx, task.id)  # its windows are over


async def _develop_rounds(ctx: RunContext, task: Task, worktree: Path) -> bool:
    artifacts = ctx.files.task_dir(task.id)
    atomic_write_text(artifacts / "prompt.md", f"# {task.title or task.id}\n\n{task.prompt}\n")
    iteration = resume_point.iteration_to_run(ctx.journal.task(ctx.run_id, task.id))
    session_id: str | None = None
    while True:
        feedback = grading.feedback_path(ctx, task.id, iteration - 1) if iteration > 1 else None
        if feedback is not None and not feedback.is_file():
            feedback = None  # `choose continue` after a grader that gave no verdict: no fixes to point at
        finished = resume_point.finished_round(ctx, task.id, iteration)
        if finished is not None:  # resumed after the agent had finished: never run (or pay) it twice
            row = ctx.journal.task(ctx.run_id, task.id)
            if row.state in _COMMITTED_STATES and row.iteration == iteration and row.head_sha:
                # This round's work was committed before the launcher died: what else is in the
                # tree was left by its checks (bytecode, reports), never the agent's work.
                await commits.reset_to(ctx.repo, worktree, row.head_sha)
            resume_point.resume_collection(ctx, task.id, iteration, finished)
            result, started, began = finished.result, finished.started, None
        else:
            result, started, began = await _run_round(ctx, task, worktree, iteration, feedback, session_id)
        session_id = result.outcome.session_id or session_id
        state, message, facts = await _collect_and_decide(ctx, task, worktree, result, (started, began),
                                                          iteration)  # fmt: skip
        if state is TaskState.APPROVED:
            await containment.record_idle(ctx, task.id, worktree)
        if state is not TaskState.APPROVED:
            await _fail(ctx, task.id, state, message)
            return False
        if grading.grader_name(ctx) is None:
            return await grading.approve(ctx, task.id, message)
        ctx.transition(task.id, TaskState.GRADING, f"grader round {iteration}")
        graded_from = wall_clock.stamp()
        await round_copy.take(ctx, task.id, round_copy.GRADING_START)
        ctx.idle_trees.open_span(task.id)  # what its grader does is the task's too
        try:
            verdict = await grading.grade_task(
                ctx, task, iteration, facts, after_grader=partial(containment.after_grading, ctx, task.id, graded_from))
        finally:
            ctx.idle_trees.close_span(task.id)
        if verdict is TaskState.APPROVED:
            return await grading.approve_once(ctx, task.id, "rubric satisfied")
        if verdict is not TaskState.NEEDS_REVISION:
            return False  # escalated, or decided by the on-cap policy (already journaled)
        iteration += 1


async def _run_round(
    ctx: RunContext, task: Task, worktree: Path, iteration: int, feedback: Path | None,
    session_id: str | None,
) -> tuple[RoundResult, float, float]:
    """One agent round (plus its corrective attempt), recorded as finished before it is used;
    with when it started, by the wall clock (the change windows) and `time.monotonic()`."""
    artifacts = ctx.files.task_dir(task.id)
    ctx.transition(task.id, TaskState.RUNNING, f"agent {task.agent} round {iteration}",
                   iteration=iteration)
    started, began = wall_clock.stamp(), time.monotonic()  # (the change windows', a clock step widens)
    await round_copy.take(ctx, task.id)  # what its put-backs restore: never an older copy over a newer save
    result = await _agent_round(ctx, task, worktree, iteration, 1, feedback, session_id)
    # A corrective round only helps an agent that ran fine but answered badly; re-running a
    # CLI that hit an API error, a budget or a turn limit would fail (and bill) the same way.
    if result.collected.contract is None and result.outcome.error_kind in (
        None, "no_structured_output"
    ):
        assert result.collected.error is not None
        # the agent's own text quoted in it (a value it echoed) masked, as the journal keeps it
        envelope = mask_data(result.collected.error.envelope(), ctx.journal.passed_values(ctx.run_id))
        correction = artifacts / "feedback.json"
        atomic_write_json(correction, envelope)
        ctx.note(task.id, f"invalid contract ({envelope['error_key']}): one corrective round")
        first = result.outcome
        result = await _agent_round(
            ctx, task, worktree, iteration, 2, correction, result.outcome.session_id
        )
        # Every adapter reports its own process's spend, not the session's (codex's thread totals
        # are made a process's by its adapter, agents/codex_usage.py): the round paid both.
        spent = add_outcomes((first.cost_usd, first.tokens), (result.outcome.cost_usd, result.outcome.tokens))
        result.outcome.cost_usd, result.outcome.tokens = spent.cost_usd, spent.tokens or None
    resume_point.save_round(ctx, task.id, iteration, result, started)
    return result, started, began


async def _collect_and_decide(
    ctx: RunContext, task: Task, worktree: Path, result: RoundResult, start: tuple[float, float | None],
    iteration: int,
) -> tuple[TaskState, str, dict[str, Any]]:
    """Commit, measure and check one round; APPROVED here means "ready for grading". `start`: when
    the round started, by the wall clock and by `time.monotonic()` (None: in an earlier process)."""
    started, began = start
    ended = time.time()  # the agent has exited: any main-tree scan from now on would see its writes
    scanned_after = time.monotonic()  # (the shared status scan's key: a clock step never reuses a stale one)
    artifacts = ctx.files.task_dir(task.id)
    row = ctx.journal.task(ctx.run_id, task.id)
    if not (worktree / ".git").exists():  # deleted by its agent: no git can run there any more
        return TaskState.FAILED, (
            f"its worktree {worktree} (or its .git file) was deleted during the round; what the "
            "agent committed before stays on its branch"), {}
    start_sha = row.start_sha or ctx.base_sha
    outcome, supervised = result.outcome, result.supervised
    trailers = {
        "Launcher-Run": ctx.run_id, "Launcher-Task": task.id, "Launcher-Agent": task.agent,
    }
    left = await _back_on_branch(ctx, task.id, worktree, row.branch)
    # The branch still at its start: whatever commit_pending adds sits on top of the start.
    on_start = left is None and bool(row.branch) and commits.loose_tip(ctx.repo, row.branch or "") == start_sha
    await commits.commit_pending(
        ctx.repo, worktree, f"{task.title or task.id} (launcher task {task.id})", trailers
    )
    if left is not None and left.saved:
        # What commit_pending added is saved too; HEAD may still have no commit (an orphan branch).
        head = await commits.head_or_none(ctx.repo, worktree) or start_sha
        if head != start_sha:
            async with ctx.repo.lock.hold():
                await ctx.repo.git("update-ref", left.saved, head)
    else:  # HEAD is on the task's branch now (read from its loose ref file: no git process)
        loose = commits.loose_tip(ctx.repo, row.branch) if row.branch else None
        head = loose or await commits.head_of(ctx.repo, worktree)
    left_for_good = left is not None and not left.carried  # says more than "rewound", below
    if not (left_for_good or on_start) and head != start_sha and not await ctx.repo.is_ancestor(start_sha, head):
        # A reset or rebase past its start: the diff would show the base's own files as the
        # task's changes, and the merge would land none of them.
        return TaskState.FAILED, commits.rewound_past_start(start_sha, head), {}
    changed = await ctx.repo.changed_entries(start_sha, head)
    grading.remember_change_set(ctx.repo, start_sha, head, changed)  # the approval's hash, at no cost
    real_files = sorted(c.path for c in changed)
    contract = result.collected.contract
    if contract is None:
        reason = outcome.message if not outcome.ok else str(result.collected.error)
        contract = derived_contract(
            task.id, exit_code=supervised.returncode if supervised else None, files=real_files,
            reason=reason.splitlines()[0] if reason else "no contract",
        )
    intrusions = await containment.main_tree_intrusions(ctx, started, ended, task.id, scan_after=scanned_after)
    # The agent's prose (its message, a refused contract quoted in the error) masked as the journal
    # masks it: facts.json and the grader's packet show no value the run passed. Never the data
    # the launcher compares (files, ids, commits).
    secrets = ctx.journal.passed_values(ctx.run_id)
    facts: dict[str, Any] = {
        "exit_code": supervised.returncode if supervised else None,
        "duration_s": _elapsed(started, began),
        "outcome": {"ok": outcome.ok, "error_kind": outcome.error_kind, "message": mask(outcome.message, secrets),
                    **({"extra": mask_data(outcome.extra, secrets)} if outcome.extra else {})},
        "cost_usd": outcome.cost_usd,
        "tokens": outcome.tokens,
        "session_id": outcome.session_id,
        "base_sha": ctx.base_sha,
        "start_sha": start_sha,
        "head_sha": head,
        "files_changed": real_files,
        "submodule_changes": (gitlinks := sorted(c.path for c in changed if c.gitlink)),
        "submodule_moves": await submodules.pointer_moves(ctx.repo, start_sha, head, gitlinks),
        "nested_repositories": await submodules.made_repositories(ctx.repo, worktree, start_sha, gitlinks),
        "submodule_uncommitted": await submodules.with_uncommitted_work(ctx.repo, worktree),
        "submodule_uninitialised_writes": await submodules.written_uninitialised(ctx.repo, worktree),
        "claimed_files": contract.files_changed,
        "claimed_not_changed": claims.disagreements(contract.files_changed, real_files)[0],
        "changed_not_claimed": claims.disagreements(contract.files_changed, real_files)[1],
        "contract_origin": result.collected.origin or "derived",
        "contract_error": mask_data(result.collected.error.envelope(), secrets) if result.collected.error else None,
        "main_tree_intrusions": intrusions,
        "left_branch": None if left is None or left.carried else (
            f"the agent left its branch for {left.where}, which does not build on the task's "
            f"work; nothing was landed, " + (f"its commits are kept at {left.saved} ({head[:12]})"
                                             if head != start_sha else "and it committed nothing there")),
        "log_truncated": bool(supervised and supervised.log_truncated),
        "stdout_bytes": supervised.stdout_bytes if supervised else 0,
        "process_notes": list(supervised.notes) if supervised else [],
    }
    atomic_write_json(artifacts / "contract.json",  # what the run passed masked in its prose, as in the journal
                      mask_contract(contract.model_dump(mode="json"), secrets))
    try:
        await patches.patch_to_file(ctx.repo, artifacts / "diff.patch", start_sha, head)
    except GitFailed as exc:  # a file git cannot diff (2 GiB or more): said so, head and files kept
        if isinstance(exc, GitTimedOut):
            raise  # git was stopped at its time limit: said as such, not as a file too large to diff
        ctx.journal.update_task(ctx.run_id, task.id, head_sha=head, files=real_files)
        raise await branch_facts.patch_failure(
            ctx.repo, exc, changed, row.branch, head, artifacts / "diff.patch",
            f"launcher resume {ctx.run_id} --retry-failed") from None
    fields: dict[str, Any] = {
        "head_sha": head, "files": real_files, "contract": contract.model_dump(mode="json"),
        "cost_usd": _record_spend(ctx, task.id, iteration, outcome.cost_usd, outcome.tokens),
        "duration_s": facts["duration_s"], "iteration": iteration,
    }
    ctx.transition(task.id, TaskState.COLLECTED, contract.summary[:200], **fields)
    if task.checks:  # they run the task's code: watched as its agent round is
        git_watch.checks_start(ctx, task.id)
    try:
        state, message, checks = await task_verdict.decide(ctx, task, worktree, contract, facts, outcome.error_kind)
    except BaseException:
        ctx.agents_running.discard(task.id)
        raise
    if task.checks and (tampered := await git_watch.after_checks(ctx, task.id)) is not None:
        state, message = TaskState.FAILED, (
            tampered.message if state is TaskState.APPROVED else f"{message}; {tampered.what}")
    if checks and (wrote := await containment.main_tree_intrusions(ctx, started, time.time(), task.id)):
        # The checks ran the task's code: what that wrote outside its worktree is its doing too.
        facts["main_tree_intrusions"] = [*intrusions, *wrote]
        if state is TaskState.APPROVED:
            state, message = TaskState.FAILED, (
                f"its checks wrote into the main checkout: {', '.join(wrote)}; checks run in the "
                "task's worktree and may only write there")
    facts["checks"] = [c.as_dict() for c in checks]
    facts["included"] = row.included
    atomic_write_json(artifacts / "facts.json", facts)
    return state, message, facts


def _record_spend(ctx: RunContext, task_id: str, iteration: int, cost: float | None,
                  tokens: dict[str, int] | None) -> float | None:
    """Book the round (keyed by iteration: a resumed collection replaces, never adds) and
    return everything the task has cost so far."""
    ctx.usage.record(ctx.run_id, task_id, "agent", f"round-{iteration}", cost, tokens)
    return ctx.usage.task_cost(ctx.run_id, task_id)
