"""`launcher choose` and `launcher grade`: the operator's hand on an escalated or changed task."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import anyio

from launcher import process, wall_clock
from launcher.app.context import EventSink, RunContext
from launcher.app.report import run_message, run_status
from launcher.app.report_now import current_report
from launcher.app.run import best_of, containment, grading
from launcher.app.run.remeasure import remeasure
from launcher.app.run.round_record import last_failing
from launcher.app.run.runner import continue_run, driving
from launcher.engine import reaper
from launcher.engine.orphans import journaling_observer
from launcher.errors import UsageProblem, stopped_by_error
from launcher.models.ids import task_id_problem
from launcher.models.plan import Task
from launcher.models.report import RunReport
from launcher.models.states import RunStatus, TaskState
from launcher.store.journal import BEST_OF_N

# The run's settings key naming, per task, the round a `launcher grade` re-measures and grades:
# that round has no agent, and `launcher resume` finishes it as a re-grade.
_REGRADES = "regrades"
_REGRADING = frozenset({TaskState.CHECKING, TaskState.GRADING})


async def decide_for_attempts(ctx: RunContext, task: Task, choice: grading.Choice, note: str) -> None:
    """A choice on an escalated best-of-N task: approve or continue apply to each of its
    attempts waiting at the cap (the run then grades them again or selects the best); defer or
    tech-debt close the task unlanded (one ledger row), its waiting attempts with it, kept."""
    waiting = [a for a in task.select_from if ctx.journal.task(ctx.run_id, a).state is TaskState.ESCALATED]
    if choice in ("approve", "continue"):
        for attempt in waiting:
            await grading.apply_choice(ctx, attempt, choice, f"{note} (for {task.id})",
                                       last_failing(ctx, attempt))
        return
    failing = sorted({c for attempt in waiting for c in last_failing(ctx, attempt)})
    state = await grading.apply_choice(ctx, task.id, choice, note, failing)
    for attempt in waiting:
        ctx.transition(attempt, TaskState.SKIPPED,
                       f"{BEST_OF_N} closed with {task.id} ({state.value}); worktree and branch kept")


async def choose(
    cwd: Path, run_id: str, task_id: str, choice: grading.Choice, note: str, emit: EventSink
) -> RunReport:
    """Apply approve | continue | tech-debt | defer to an escalated task, then carry the run on."""
    problem = task_id_problem(task_id)
    if problem:
        raise UsageProblem(problem, fix="pass a task id as shown by `launcher status`")
    async with driving(cwd, run_id, emit, "choose") as ctx:
        return await _choose(ctx, task_id, choice, note)


def _shortened(message: str, limit: int = 160) -> str:
    """A task's message cut at a word, with an ellipsis: never mid-word ("(no out)")."""
    line = " ".join(message.split())
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0]
    return f"{cut} …"


async def _choose(ctx: RunContext, task_id: str, choice: grading.Choice, note: str) -> RunReport:
    if (pending := regrade_pending(ctx)) is not None:  # carrying the run on would run its agent
        raise UsageProblem(
            f"run {ctx.run_id} has an unfinished re-grade of task {pending[0]!r} (a `launcher grade` was "
            "stopped)", fix=f"finish it with `launcher resume {ctx.run_id}`, then choose")
    row = ctx.journal.task(ctx.run_id, task_id)
    if row.state is not TaskState.ESCALATED:
        raise UsageProblem(
            f"task {task_id!r} is {row.state.value} ({_shortened(row.message)}), not escalated",
            fix="`launcher choose` decides escalated tasks only; see `launcher status`",
        )
    task = ctx.plan.task(task_id)
    if task.select_from:
        await decide_for_attempts(ctx, task, choice, note)
    else:
        _check_selection_open(ctx, task_id)
        await grading.apply_choice(ctx, task_id, choice, note, last_failing(ctx, task_id))
    # Every choice carries the run on as `resume` would (landing an approval, running extra
    # rounds), so the run's status is recomputed: a choice and a later resume never disagree.
    return await continue_run(ctx)


def _check_selection_open(ctx: RunContext, task_id: str) -> None:
    """A best-of-N attempt is decided only while its task still waits to select one: an attempt
    lands only as its task, never by itself."""
    parent = best_of.best_of_task(ctx, task_id)
    if parent is None:
        return
    state = ctx.journal.task(ctx.run_id, parent.id).state
    if state.is_final or state.is_success:
        raise UsageProblem(
            f"task {task_id!r} is an attempt of the best-of-{len(parent.select_from)} task {parent.id!r}, "
            f"which is already {state.value}: no attempt of it can land any more",
            fix=f"see `launcher status {ctx.run_id}`; `launcher resume {ctx.run_id} --retry-failed` runs "
                f"a failed {parent.id!r} again",
        )


def _check_attempt_gradable(ctx: RunContext, task_id: str) -> None:
    """A best-of-N attempt the selection settled lands only as its task: grading it alone would
    approve an attempt that can never land by itself (the run would then hold approved work it
    cannot land). Its task is graded instead, as long as it has not landed."""
    parent = best_of.best_of_task(ctx, task_id)
    if parent is None:
        return
    row = ctx.journal.task(ctx.run_id, task_id)
    state = ctx.journal.task(ctx.run_id, parent.id).state
    if not row.message.startswith(BEST_OF_N) and not state.is_final and not state.is_success:
        return  # still waiting for the selection (escalated at the cap, say): graded as itself
    fix = (f"nothing to re-grade: {parent.id!r} has landed" if state is TaskState.MERGED else
           f"`launcher grade {ctx.run_id} {parent.id}` re-grades the attempt {parent.id!r} lands")
    raise UsageProblem(
        f"task {task_id!r} is an attempt of the best-of-{len(parent.select_from)} task {parent.id!r} "
        f"({row.state.value}: {row.message[:120]}); an attempt lands only as its task, never by itself",
        fix=fix)


async def regrade(cwd: Path, run_id: str, task_id: str, emit: EventSink) -> RunReport:
    """Re-grade by hand at the task branch's current head: everything is re-measured there
    (files, diff, claims, scope, checks; rubric checks in the relay), in a new grading round
    that keeps the earlier rounds' packets and verdicts. A run without a grader (it keeps the
    settings it started with) approved on contract and checks: its approved task whose branch
    changed is re-measured and approved again on that bar; one it never approved is refused."""
    problem = task_id_problem(task_id)
    if problem:
        raise UsageProblem(problem, fix="pass a task id as shown by `launcher status`")
    async with driving(cwd, run_id, emit, "grade") as ctx:
        return await _regrade(ctx, task_id)


async def _regrade(ctx: RunContext, task_id: str) -> RunReport:
    row = ctx.journal.task(ctx.run_id, task_id)
    # Landed first: `clean` deletes a landed task's branch, and "run it first" would then be false.
    if row.state is TaskState.MERGED:
        raise UsageProblem(f"task {task_id!r} has already landed", fix="nothing to re-grade")
    if not row.branch or not row.head_sha:
        raise UsageProblem(f"task {task_id!r} has no branch to grade", fix="run it first")
    _check_attempt_gradable(ctx, task_id)
    graded = grading.grader_name(ctx) is not None
    if not graded and not row.approval_hash:
        # Without a grader the run approves on the agent's contract and the task's checks: a task
        # it never approved (its agent failed, a check failed) is not approved on checks alone.
        raise UsageProblem(
            f"run {ctx.run_id} has no grader, and task {task_id!r} was never approved in it "
            f"({row.state.value}): without a grader, `launcher grade` only re-measures work the run "
            "approved whose branch changed since (the run keeps the settings it started with: a "
            "grader set in launcher.toml now does not apply to it)",
            fix=f"`launcher resume {ctx.run_id} --retry-failed` runs the task again from scratch; "
                "or start a new run with a grader")
    recorded = [r["iteration"] for r in ctx.journal.rounds(ctx.run_id, task_id)]
    iteration = max([row.iteration, *recorded]) + 1
    return await _regrade_round(ctx, task_id, iteration, graded)


async def finish_regrade(ctx: RunContext) -> RunReport | None:
    """`launcher resume` of a run whose `launcher grade` was stopped (Ctrl-C, SIGTERM, -9) while
    it re-measured or graded: that re-grade is finished, in the same round, at the branch's
    head, as the grade would have (an approval carries the run on), never an agent round nobody
    asked for (the round has no agent result: the pipeline would take it for an agent round cut
    short). None: no re-grade was stopped."""
    pending = regrade_pending(ctx)
    if pending is None:
        return None
    task_id, iteration = pending
    ctx.note(task_id, f"finishing the re-grade (round {iteration}) that `launcher grade` left unfinished")
    ctx.journal.set_run(ctx.run_id, message="")  # "interrupted while re-grading" no longer holds
    return await _regrade_round(ctx, task_id, iteration, grading.grader_name(ctx) is not None)


def regrade_pending(ctx: RunContext) -> tuple[str, int] | None:
    """(task, round) of a re-grade a stopped `launcher grade` left mid-check or mid-grade."""
    marks = ctx.journal.run(ctx.run_id).settings.get(_REGRADES)
    for task_id, iteration in (marks.items() if isinstance(marks, dict) else []):
        row = next((r for r in ctx.journal.tasks(ctx.run_id) if r.task_id == task_id), None)
        if row is not None and row.state in _REGRADING and row.iteration == iteration:
            return task_id, iteration
    return None


def _mark_regrade(ctx: RunContext, task_id: str, iteration: int) -> None:
    """Journaled before the re-grade's round begins: the round is a re-grade, not an agent's."""
    marks = ctx.journal.run(ctx.run_id).settings.get(_REGRADES)
    marks = {k: v for k, v in marks.items() if k != task_id} if isinstance(marks, dict) else {}
    ctx.journal.set_run(ctx.run_id, settings={_REGRADES: {**marks, task_id: iteration}})


async def _regrade_round(ctx: RunContext, task_id: str, iteration: int, graded: bool) -> RunReport:
    row = ctx.journal.task(ctx.run_id, task_id)
    if not row.branch or not row.head_sha:
        raise UsageProblem(f"task {task_id!r} has no branch to grade", fix="run it first")
    tip = await ctx.repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{row.branch}", check=False)
    head = tip.out.strip() if tip.ok else row.head_sha
    task = ctx.plan.task(task_id)
    _mark_regrade(ctx, task_id, iteration)
    reaper.become_subreaper()  # what its checks leave running (`setsid`) comes back to us, to be killed
    with process.observing_spawns(journaling_observer(ctx.journal, ctx.run_id, task_id)):
        try:
            ctx.transition(task_id, TaskState.CHECKING,
                           f"re-measuring {head[:12]} for re-grade round {iteration}", iteration=iteration)
            facts, failure = await remeasure(ctx, task, head, iteration)
            if failure:
                ctx.transition(task_id, TaskState.FAILED, f"re-grade: {failure}")
                return await _settled_report(ctx)
            if not graded:
                return await _reapproved_ungraded(ctx, task_id, head)
            ctx.transition(task_id, TaskState.GRADING, f"re-grading round {iteration} by hand at {head[:12]}")
            # What the grader must not touch, as in a run: put back after it, its task escalated
            await containment.start(ctx)
            graded_from = wall_clock.stamp()
            state = await grading.grade_task(
                ctx, task, iteration, facts, after_grader=partial(containment.after_grading, ctx, task_id, graded_from))
        except BaseException as exc:
            # Ctrl-C or a crash mid-check or mid-grade: the task is left `checking`/`grading`, so
            # the run is `interrupted` (not its earlier status, which the claim's release would
            # put back): `launcher resume` finishes the re-grade (`finish_regrade`).
            with anyio.CancelScope(shield=True):
                finish = f"`launcher resume {ctx.run_id}` finishes the re-grade"
                code, said = stopped_by_error(exc, finish)
                ctx.journal.set_run(ctx.run_id, status=RunStatus.INTERRUPTED, exit_code=code,
                                    message=said or f"interrupted while re-grading {task_id}; {finish}")
                await containment.reap(ctx)  # as a run's end does: no escaped process outlives it
            raise
    if state is TaskState.APPROVED:
        await grading.approve(ctx, task_id, "rubric satisfied (re-graded)")
        if ctx.merge:
            return await continue_run(ctx)
    if state is TaskState.NEEDS_REVISION:
        # Nothing was interrupted: the re-grade asks for fixes, and runs no agent by itself.
        message = (f"re-graded {task_id}: needs revision (fixes in its feedback); `launcher resume "
                   f"{ctx.run_id}` gives its agent the next round, or fix the branch and re-grade")
        ctx.journal.set_run(ctx.run_id, status=RunStatus.FAILED, message=message)
        return await current_report(ctx.repo, ctx.journal, ctx.run_id)
    return await _settled_report(ctx)


async def _reapproved_ungraded(ctx: RunContext, task_id: str, head: str) -> RunReport:
    """A run without a grader approved the task on its contract and checks: re-measured at its
    branch's new head (files, claims, scope, the task's checks all hold there), it is approved
    again on that same bar, bound to the new change set, and says so; then the run carries on."""
    await grading.approve(ctx, task_id, f"re-measured at {head[:12]}: its checks, claims and scope hold "
                                        "(this run has no grader: approved as the run approves)")
    if ctx.merge:
        return await continue_run(ctx)
    return await _settled_report(ctx)


async def _settled_report(ctx: RunContext) -> RunReport:
    """The run's status follows the re-graded task (a failed re-grade is no success)."""
    rows = ctx.journal.tasks(ctx.run_id)
    ctx.journal.set_run(ctx.run_id, status=run_status(rows, merge=ctx.merge), message=run_message(rows, "") or None)
    return await current_report(ctx.repo, ctx.journal, ctx.run_id)
