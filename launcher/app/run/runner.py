"""`launcher run` and `launcher resume`: orchestrate a run from plan to landed branches."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from launcher import process
from launcher.app.context import EventSink, RunContext, open_journal
from launcher.app.land.export_lock import landed_by, landing_shard_runs
from launcher.app.land.landing import cleanup_merged, land_approved
from launcher.app.land.recovery import finish_earlier_landings, recover_landing
from launcher.app.queue import touched
from launcher.app.report import run_message, run_status
from launcher.app.report_now import current_report
from launcher.app.run import containment, git_watch, idle_change, include_screen, pool, retry, root_in_checkout
from launcher.app.run.agent_limits import unenforced_limits
from launcher.app.run.inputs import cache_problem, check_run_inputs
from launcher.app.run.pipeline import run_task
from launcher.app.run.preflight import (
    check_agent_files,
    check_agents,
    check_integration_program,
    check_signing,
    preflight,
)
from launcher.app.run.shared_credentials import check_shared_credentials
from launcher.app.run.tree_commands import guard_site_installs, settle_site_installs
from launcher.app.takeover import reap, take_over
from launcher.engine import tree_guard
from launcher.engine.orphans import journaling_observer
from launcher.engine.scheduler import Node, run_dag
from launcher.errors import EnvironmentProblem, GitFailed, LauncherError, UsageProblem, stop_cause, stopped_by_error
from launcher.git import include, scratch, worktrees
from launcher.git.repo import GitRepo
from launcher.models.config import RepoConfig, config_of_run, load_repo_config
from launcher.models.events import Event
from launcher.models.ids import new_run_id
from launcher.models.plan import Plan, plan_from_journal
from launcher.models.report import RunReport
from launcher.models.states import RunStatus, TaskState
from launcher.store.journal import Journal


@dataclass
class RunOptions:
    max_parallel: int | None = None
    budget_usd: float | None = None
    merge: bool = True
    into: str | None = None
    base: str | None = None
    # `run --shard I/N --no-merge --export DIR`: recorded in the run's settings, so that a resume
    # of it writes the export too (app/run/export.py `export_requested`).
    export: dict[str, Any] | None = None


async def _prepare(repo: GitRepo, config: RepoConfig) -> None:
    await repo.ensure_excluded("/.launcher/")
    await root_in_checkout.keep_out_of_git(repo, config.worktree_root)


async def start_run(cwd: Path, plan: Plan, options: RunOptions, emit: EventSink) -> RunReport:
    repo = await GitRepo.discover(cwd)
    config = load_repo_config(repo.root)
    await preflight(repo, plan, config)  # before anything is created: exit 3 leaves no debris
    check_integration_program(plan, config)
    # Another run's landing left half-done is finished first: the target and the main work tree
    # this run starts from must agree.
    finished = await finish_earlier_landings(repo, config)
    base_sha = await check_run_inputs(repo, plan, config, into=options.into, base=options.base,
                                      budget_usd=options.budget_usd)
    await check_agent_files(repo, plan, config, base_sha)
    await _prepare(repo, config)
    snapshot = await _main_status(repo)
    target = options.into or plan.run.into or await repo.current_branch()
    if not target:
        raise UsageProblem(
            "the main work tree has a detached HEAD, so there is no branch to land on",
            fix="pass --into BRANCH (or set [run] into = \"...\" in the plan)",
        )
    if options.max_parallel:
        plan.run.max_parallel = options.max_parallel
    if options.budget_usd is not None:
        plan.run.budget_usd = options.budget_usd
    journal = open_journal(repo)
    run_id = journal.create_run(
        new_run_id, repo=str(repo.root), base_sha=base_sha, target=target,
        plan=plan.model_dump(mode="json", by_alias=True),
        settings={"merge": options.merge, "config": config.model_dump(mode="json"),
                  **({"export": options.export} if options.export else {})},
        task_ids=[t.id for t in plan.tasks], launcher_pid=os.getpid(),
    )
    # The view learns the run's id now: a Ctrl-C from here on reports this run (`resume` it).
    emit(Event(run_id, None, "recorded"))
    ctx = RunContext(
        repo=repo, journal=journal, run_id=run_id, plan=plan, config=config, base_sha=base_sha,
        target=target, worktree_root=worktrees.default_worktree_root(repo, config.worktree_root),
        emit=emit, merge=options.merge,
    )
    try:
        for note in [*finished, *await worktrees.reconcile(repo, ctx.worktree_root),
                     *unenforced_limits(plan, config)]:
            ctx.note(None, note)
        await _note_base_off_target(ctx)
    except BaseException as exc:
        _not_started(ctx, exc)
        raise
    return await _execute(ctx, snapshot)


async def _note_base_off_target(ctx: RunContext) -> None:
    """Say so when the base is not on the target: landing brings the base's own commits too
    (`--into main` from a feature branch lands that branch's work-in-progress with the tasks')."""
    tip = (await ctx.repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{ctx.target}^{{commit}}",
                              check=False)).out.strip()
    if not tip or tip == ctx.base_sha or await ctx.repo.is_ancestor(ctx.base_sha, tip):
        return
    extra = await ctx.repo.git("rev-list", "--count", ctx.base_sha, f"^{tip}", check=False)
    count = extra.out.strip() or "some"
    ctx.note(None, f"the base {ctx.base_sha[:12]} is not on {ctx.target}: landing also brings its {count} "
                   f"commit(s) that {ctx.target} does not have (`--base {ctx.target}` starts from {ctx.target})")


@contextlib.asynccontextmanager
async def driving(cwd: Path, run_id: str | None, emit: EventSink, command: str) -> AsyncIterator[RunContext]:
    """A run's context rebuilt from the journal alone (resume, land, choose, grade), claimed by
    this process for as long as the command drives it: another launcher of the run is refused
    (RunBusy) before anything is read or killed, and this one is refused while another drives it
    (store/run_claim.py: the check and the claim are one journal transaction)."""
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    run_id = run_id or journal.latest_run_id()
    if run_id is None:
        raise UsageProblem("there is no run yet", fix="start one with `launcher run PLAN`")
    claim = journal.claim_run(run_id, command)
    ctx: RunContext | None = None
    stack = contextlib.AsyncExitStack()
    try:
        run = journal.run(run_id)
        # Any of them may land the run's work: one landing at a time of a shard run's branches.
        await stack.enter_async_context(landing_shard_runs(repo, landed_by(run.id, run.settings)))
        config, changed = config_of_run(run.settings, repo.root)
        if (unusable := cache_problem(repo, config.worktree_root, ports_needed=command != "land")) is not None:
            raise unusable  # before a dead launcher's agents are killed or anything is made
        # Every command that drives a run may run agents, checks or graders (choose's extra
        # rounds, grade's checks, land's integration check and sent-back rounds): never with a
        # credential in the configuration they all read, as `run` refuses (preflight.py).
        await check_shared_credentials(repo)
        # A run started by a launcher that did not exclude its worktree root yet: excluded now.
        await root_in_checkout.keep_out_of_git(repo, config.worktree_root)
        ctx = RunContext(
            repo=repo, journal=journal, run_id=run.id, plan=plan_from_journal(run.plan, run.id),
            config=config, base_sha=run.base_sha, target=run.target,
            worktree_root=worktrees.default_worktree_root(repo, config.worktree_root),
            emit=emit, merge=bool(run.settings.get("merge", True)),
        )
        # A dead launcher's agents are killed before anything is measured, graded or landed;
        # `resume` saves an interrupted agent's work per task as it re-runs the round.
        for line in await take_over(repo, journal, ctx.worktree_root, claim, save=command != "resume"):
            ctx.note(None, line)
        if changed:
            ctx.note(None, changed)
        if isinstance(budget := run.settings.get("budget_usd"), int | float):  # `resume --budget-usd`
            ctx.plan.run.budget_usd = float(budget)
        # What the dead launcher's commands re-pointed into the run's worktrees goes back now
        await guard_site_installs(ctx)
        yield ctx
    finally:
        if ctx is not None:  # land, choose, grade: no install from one of the run's trees outlives them
            with anyio.CancelScope(shield=True):
                await settle_site_installs(ctx)
        await containment.release_main(ctx)  # land, choose, grade took it too: it goes with the command
        journal.release_run(claim)
        await stack.aclose()


async def resume_run(cwd: Path, run_id: str | None, emit: EventSink, *, retry_failed: bool = False,
                     budget_usd: float | None = None) -> RunReport:
    async with driving(cwd, run_id, emit, "resume") as ctx:
        if budget_usd is not None:  # the run's budget from now on (kept for its later commands)
            ctx.journal.set_run(ctx.run_id, settings={"budget_usd": budget_usd})
            ctx.plan.run.budget_usd = budget_usd
        await check_agents(ctx.plan, ctx.config)
        check_integration_program(ctx.plan, ctx.config)
        await check_signing(ctx.repo)
        # Imported here: `grade` (app/run/choose.py) carries a run on with this module's continue_run.
        from launcher.app.run.choose import finish_regrade, regrade_pending

        if retry_failed and (pending := regrade_pending(ctx)) is not None:
            raise UsageProblem(
                f"a `launcher grade` of task {pending[0]!r} was stopped before it finished its re-grade",
                fix=f"finish it first with `launcher resume {ctx.run_id}`, then `launcher resume {ctx.run_id} "
                    "--retry-failed`")
        if retry_failed:
            retried = retry.tasks_to_retry(ctx)
            await retry.reset_for_retry(ctx, retried)
        if (regraded := await finish_regrade(ctx)) is not None:
            return regraded  # the grade's own end: an approval carried the run on, as `grade` does
        return await continue_run(ctx)


async def continue_run(ctx: RunContext) -> RunReport:
    """Drive every unfinished task again and land; done stays done. The caller holds the run's
    claim (`driving`), so what the journal says is running is a dead launcher's."""
    journal, run_id, repo = ctx.journal, ctx.run_id, ctx.repo
    finished = await finish_earlier_landings(repo, ctx.config, this_run=run_id)  # its own: _execute
    for note in finished:
        ctx.note(None, note)
    for line in reap(journal, run_id):  # `driving` did; a grade's own graders are ended
        ctx.note(None, line)
    for note in await worktrees.reconcile(repo, ctx.worktree_root):
        ctx.note(None, note)
    for path in await scratch.remove_scratch(repo, ctx.worktree_root / run_id):
        ctx.note(None, f"removed {path}, a scratch worktree of an integration check or grading "
                       "the stopped launcher left")
    # What the last landing held back (its epic was blocked, a dependency did not land) is
    # approved again, and this landing decides anew: a choice that approved the blocking task,
    # or a retry of it, lands the whole epic (its members no longer block each other).
    retry.restore_held_back(ctx)
    # Tasks the run's budget held back start now (skipped again while the spend is still past it).
    retry.reopen_budget_skipped(ctx)
    return await _execute(ctx)


def _over_budget(ctx: RunContext, task_id: str) -> str | None:
    """Once reported spend reaches the run budget, no new task starts. A best-of-N task's
    selection is no new start: it runs no agent and costs nothing, it picks among attempts that
    ran (and were paid for) before the budget was reached, so their approved work still lands."""
    budget = ctx.plan.run.budget_usd
    if budget is None or ctx.plan.task(task_id).select_from:
        return None
    spent = ctx.usage.run_cost(ctx.run_id)  # not the task rows: a best-of task repeats its attempts'
    if spent >= budget:
        return (f"{retry.BUDGET_SKIP} ${budget:.2f} reached (reported spend ${spent:.2f}); `launcher resume "
                f"{ctx.run_id} --budget-usd X` (X above the spend) starts it, and what waits for it")
    return None


def _note_budget_passed(ctx: RunContext) -> None:
    """The budget stops new starts, not the rounds of tasks already started (a revision round
    the queue sends a culprit back for, a conflict's resolution round, a grader's round): a run
    whose reported spend went past it says so, rather than end as if it had kept to it."""
    budget = ctx.plan.run.budget_usd
    if budget is None:
        return
    spent = ctx.usage.run_cost(ctx.run_id)
    if spent > budget:
        ctx.note(None, f"the reported spend ${spent:.2f} passed the run budget ${budget:.2f}: --budget-usd "
                       "keeps new tasks from starting, while the rounds of tasks started before it was "
                       "reached (revision, resolution and grading rounds) ran on")


def _finished_results(journal: Journal, run_id: str) -> dict[str, bool]:
    """Tasks whose outcome is already decided: done stays done on resume."""
    return {row.task_id: row.succeeded for row in journal.tasks(run_id) if row.succeeded or row.state.is_final}


async def _main_status(repo: GitRepo) -> set[str]:
    """The main work tree's status, before the run is journaled: a repository git cannot read
    (a filter `.gitattributes` requires whose program is not installed) is refused with nothing
    created, not found broken by the run's first step."""
    try:
        return set(await repo.status_porcelain())
    except GitFailed as exc:
        raise EnvironmentProblem(
            f"`git status` fails in the main work tree, so no run can start: {exc.what}", where=str(repo.root),
            fix="make `git status` work there first (a filter that .gitattributes names and "
                "`filter.<name>.required` demands, such as git-lfs, must be installed)") from None


async def _execute(ctx: RunContext, snapshot: set[str] | None = None) -> RunReport:
    # The run's own children (integration checks) are journaled too; each task journals its own.
    with process.observing_spawns(journaling_observer(ctx.journal, ctx.run_id, None)):
        try:
            return await _execute_observed(ctx, snapshot)
        finally:
            await containment.release_main(ctx)  # done, stopped or failed: the snapshot's ref goes


async def _start(ctx: RunContext, snapshot: set[str] | None) -> tuple[bool, str] | None:
    await guard_site_installs(ctx)  # before anything runs in a worktree: kept in the run's directory
    refused: list[str] = []
    ctx.include_paths = await include.resolve_includes(ctx.repo, ctx.config.include_file, refused)
    for line in refused:
        ctx.note(None, line)
    # A landing the last launcher left half-done is finished first: the main work tree it was
    # updating must be whole before its state is taken for the user's (containment.start).
    recovered = await recover_landing(ctx)
    if snapshot is None or recovered is not None:  # a new run's was read before it was journaled
        snapshot = set(await ctx.repo.status_porcelain())
    ctx.main_snapshot = snapshot
    await containment.start(ctx)
    return recovered


def _not_started(ctx: RunContext, exc: BaseException) -> None:
    """git cannot read the repository (a required filter that is not installed), Ctrl-C...: the
    run is journaled, so it says why it stopped instead of looking killed (or still running)."""
    why = exc.what if isinstance(exc, LauncherError) else "stopped while starting"
    cause = stop_cause(exc)  # the command's exit code, unless a signal stopped it
    ctx.journal.set_run(ctx.run_id, status=RunStatus.INTERRUPTED, exit_code=cause[0] if cause else None,
                        message=f"could not start: {why}; fix that, then `launcher resume {ctx.run_id}` "
                                f"(nothing ran; `launcher clean {ctx.run_id}` forgets it)")


async def _execute_observed(ctx: RunContext, snapshot: set[str] | None) -> RunReport:
    try:
        recovered = await _start(ctx, snapshot)
    except BaseException as exc:
        _not_started(ctx, exc)
        raise
    ctx.emit(Event(ctx.run_id, None, "run", None, f"{ctx.run_id} on {ctx.target}"))
    nodes = [Node(t.id, tuple(t.depends_on)) for t in ctx.plan.tasks]

    async def skip(task_id: str, reason: str) -> None:
        ctx.transition(task_id, TaskState.SKIPPED, retry.skip_reason(ctx, task_id, reason))

    try:
        retry.reopen_waiting(ctx)  # a dependency a choice approved since: its dependents run now
        await run_dag(
            nodes, partial(run_task, ctx), max_parallel=ctx.plan.run.max_parallel,
            on_skip=skip, done=_finished_results(ctx.journal, ctx.run_id),
            refuse_start=partial(_over_budget, ctx),
            wait_only=frozenset(t.id for t in ctx.plan.tasks if t.select_from),
            # what running tasks touch, recorded for `status` (its conflict predictions)
            alongside=partial(touched.record_running, ctx.repo, ctx.journal, ctx.run_id, ctx.files.run_dir,
                              ctx.base_sha, partial(ctx.note, None, keep=False)),
        )
        message, reached_target = "", True
        if ctx.merge:  # the approved worktrees are checked while the landing is computed
            reached_target, message = await land_approved(ctx, partial(containment.before_landing, ctx),
                                                           recovered)
        else:
            await containment.before_landing(ctx)
            # what the landing would refuse is not left `approved` (nor exported)
            await include_screen.refuse_leaking(ctx.repo, ctx.journal, ctx.run_id, "refused at the run's end")
            await cleanup_merged(ctx)
            if recovered is not None:
                reached_target, message = recovered
        await containment.reap(ctx)
        await settle_site_installs(ctx)
        await git_watch.settle(ctx, "at the run's end")  # what an escaped process changed late
        await tree_guard.release(ctx.repo, ctx.main_contents)  # the main checkout is not watched any more
        await idle_change.drop_redundant_keep_refs(ctx)
        if ctx.plan.run.warm_pool:  # ready for the next run, at the target's new tip
            await pool.refill(ctx)
        _note_budget_passed(ctx)
        rows = ctx.journal.tasks(ctx.run_id)
        status = run_status(rows, merge=ctx.merge, reached_target=reached_target)
        ctx.journal.set_run(ctx.run_id, status=status, message=run_message(rows, message))
    except BaseException as exc:
        # Ctrl-C or a crash: children are already killed by the process wrapper; keep the
        # journal truthful so `launcher resume` continues from here. An error is recorded as
        # one, with the code its command exits with (`status --exit-status` exits with it too).
        with anyio.CancelScope(shield=True):
            code, said = stopped_by_error(exc, f"`launcher resume {ctx.run_id}` continues (state saved)")
            ctx.journal.set_run(ctx.run_id, status=RunStatus.INTERRUPTED, exit_code=code,
                                message=said or "state saved; `launcher resume` continues")
            await containment.reap(ctx)
            await settle_site_installs(ctx)
        raise
    return await current_report(ctx.repo, ctx.journal, ctx.run_id)
