"""`launcher land`: land a finished run's approved tasks later (a `--no-merge` run, say).

The same path and guard as a run's own landing (`land_approved`): dependency order, conflict
preflight, include-file guard, the integration check, compare-and-swap of the target, and an
approval that no longer covers its branch (a commit added after approval) is refused.
"""

from __future__ import annotations

from pathlib import Path

import anyio

from launcher import process
from launcher.app.context import EventSink, RunContext, open_journal
from launcher.app.land.landing import land_approved
from launcher.app.land.recovery import finish_earlier_landings, recover_landing
from launcher.app.land.unfinished import land_continues
from launcher.app.report import run_message, run_status
from launcher.app.report_now import current_report
from launcher.app.run import containment, git_watch, tree_commands
from launcher.app.run.preflight import check_integration_program
from launcher.app.run.runner import driving
from launcher.engine.orphans import journaling_observer
from launcher.errors import stopped_by_error
from launcher.git import include
from launcher.git.repo import GitRepo
from launcher.models.report import RunReport
from launcher.models.states import RunStatus


async def land_run(cwd: Path, run_id: str | None, emit: EventSink) -> RunReport:
    # Claimed for the whole landing: `resume`, `choose`, another `land` are refused, `clean`
    # leaves its trees alone, and a land killed with -9 shows as interrupted (its launcher gone).
    async with driving(cwd, run_id, emit, "land") as ctx:
        return await _land(ctx)


async def _land(ctx: RunContext) -> RunReport:
    check_integration_program(ctx.plan, ctx.config)
    for note in await finish_earlier_landings(ctx.repo, ctx.config, this_run=ctx.run_id):
        ctx.note(None, note)  # another run's half-done landing; this run's own is recovered below
    ctx.merge = True
    # The user asked for the run's work to land: a `resume` after an interrupted `land` goes on
    # landing (it would otherwise settle the run as the `--no-merge` run it was).
    ctx.journal.set_run(ctx.run_id, settings={"merge": True})
    # A culprit of the integration check, or a conflict sent back, gets an agent round here:
    # guarded as in a run (shared git dir, refs, main checkout, idle worktrees, escaped processes).
    ctx.include_paths = await include.resolve_includes(ctx.repo, ctx.config.include_file)
    with process.observing_spawns(journaling_observer(ctx.journal, ctx.run_id, None)):
        recovered = await recover_landing(ctx)  # before the main work tree is snapshotted
    ctx.main_snapshot = set(await ctx.repo.status_porcelain())
    await containment.start(ctx)
    with process.observing_spawns(journaling_observer(ctx.journal, ctx.run_id, None)):
        try:
            reached_target, message = await land_approved(ctx, recovered=recovered)
            await containment.reap(ctx)
            await tree_commands.settle_site_installs(ctx)  # what its checks installed from its trees
            await git_watch.settle(ctx, "at the landing's end")
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                rows = ctx.journal.tasks(ctx.run_id)
                again = land_continues(((r.task_id, r.state) for r in rows), ctx.run_id)
                code, said = stopped_by_error(exc, f"`{again}` continues the landing")
                ctx.journal.set_run(ctx.run_id, status=RunStatus.INTERRUPTED, exit_code=code,
                                    message=said or f"interrupted while landing; `{again}` continues")
                await containment.reap(ctx)
                await tree_commands.settle_site_installs(ctx)
            raise
    rows = ctx.journal.tasks(ctx.run_id)
    status = run_status(rows, merge=True, reached_target=reached_target)
    ctx.journal.set_run(ctx.run_id, status=status, message=run_message(rows, message))
    return await current_report(ctx.repo, ctx.journal, ctx.run_id)


async def continuation(cwd: Path, run_id: str) -> str:
    """What continues the stopped `land` of `run_id` (`unfinished.land_continues`)."""
    journal = open_journal(await GitRepo.discover(cwd))
    return land_continues(((r.task_id, r.state) for r in journal.tasks(run_id)), run_id)
