"""The workflow state machine: start, next, checkpoint, pause, resume, cancel, status, list.

ready --next--> running --> ready | waiting_checkpoint (a checkpoint phase) | completed
                        \\-> paused (a failed phase, pause_on_failure) | failed
waiting_checkpoint --checkpoint--> ready;  paused --resume [--retry-failed] / next --skip--> ...
A runner that died mid-phase leaves `running` with a dead runner pid: `resume` continues the
phase's run where it stopped (no finished phase or task is repeated). A runner that died before
its phase's run began (its pid gone, no run recorded) fails that phase, with the end of its log
(the runner's liveness and what a dead one leaves: app/workflow/runner.py).
A phase whose result was parked off the target (`git merge --ff-only BRANCH`, then `resume`)
pauses the workflow until the target holds it."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import anyio

from launcher.app.context import EventSink
from launcher.app.report import build_report
from launcher.app.run import preflight
from launcher.app.run.inputs import check_run_inputs
from launcher.app.run.shared_credentials import check_shared_credentials
from launcher.app.workflow import artifacts, handoff, install_notes, integrity, phase_run
from launcher.app.workflow import parked as parked_work
from launcher.app.workflow.planner import check_params, check_scripts, check_settings, custom_template, step_plan
from launcher.app.workflow.runner import (
    interrupted,
    notice_dead_runner,
    refuse_live_runner,
    runner_alive,
    running_step,
)
from launcher.app.workflow.session import WorkflowSession
from launcher.app.workflow.templates import unknown_template
from launcher.errors import EnvironmentProblem, RunNotFound, UsageProblem
from launcher.models.workflow import (
    PhaseState,
    PhaseStatus,
    WorkflowState,
    WorkflowStatus,
    WorkflowTemplate,
)

CANCEL_MARK = "cancelling"  # a file in the workflow's folder while `cancel` stops its runner
STOP_GRACE_S = 10.0


def refusal(state: WorkflowState, what: str, fix: str) -> UsageProblem:
    return UsageProblem(f"workflow {state.id} is {state.status.value}: {what}", fix=fix,
                        error_key=f"workflow_{state.status.value}")


def parked(state: WorkflowState) -> dict[str, Any] | None:
    """The paused phase's result parked off the target (branch, commit), if that is why it paused."""
    info = state.options.get("parked")
    return info if isinstance(info, dict) and info.get("phase") == state.paused_on else None


async def create(cwd: Path, name: str, params: dict[str, str], options: dict[str, Any]) -> WorkflowState:
    session = await WorkflowSession.open(cwd)
    templates = session.templates()  # read first: a repository template with a reserved name is refused
    if name == "custom":
        template = custom_template(params.get("task", ""))
    else:
        template = templates.get(name) or unknown_template(templates, name)
    filled = check_params(template, params)
    options = {**options, "scripts": check_scripts(template, options.get("scripts")),
               "template": template.model_dump(mode="json", by_alias=True)}  # fixed at start
    target = await session.repo.current_branch()
    if not target:
        raise UsageProblem("the main work tree has a detached HEAD, so a workflow has no branch to land on",
                           fix="check out a branch first")
    workflow_id = f"wf_{secrets.token_hex(6)}"
    check_settings(session.config, templates, filled)
    await _check_steps(session, template, filled, options["scripts"], target, session.folder(workflow_id))
    state = WorkflowState(
        id=workflow_id, template=template.name, params=filled, options=options, target=target,
        base_sha=await session.repo.rev_parse(target), pause_on_failure=template.pause_on_failure,
        phases=[PhaseState(id=p.id, name=p.title) for p in template.phases],
        message="created; `launcher workflow next` runs the first phase",
    )
    session.insert(state)
    return state


async def _check_steps(session: WorkflowSession, template: WorkflowTemplate, params: dict[str, str],
                       scripts: dict[str, Any], target: str, folder: Path) -> None:
    """Every step's run plan built and checked as `launcher run` checks it (task ids, agents,
    prompts that must fit in one argument, rubrics, the target), with every earlier phase's
    artifacts named in `{artifacts}`, and its environment preflight (app/run/preflight.py: a
    first commit, every agent's CLI on PATH, a repository program an agent command names
    committed, a signer that signs, the check's program found; exit 3): what would stop a phase
    from starting is refused now, at `start`, before a workflow exists that could never go on."""
    repo, config = session.repo, session.config
    await preflight.require_first_commit(repo)
    await preflight.check_signing(repo)
    await check_shared_credentials(repo)
    earlier: list[str] = []
    for step in template.steps():
        plan = step_plan(step, params, config, handoff.in_tree(earlier), scripts, target,
                         setup=handoff.setup_command(folder, earlier, config.setup))
        try:
            await preflight.check_agents(plan, config)
            await anyio.to_thread.run_sync(preflight.check_integration_program, plan, config)  # may ask a shell
            base_sha = await check_run_inputs(repo, plan, config, into=target, base=target, budget_usd=None)
            await preflight.check_agent_files(repo, plan, config, base_sha)
        except EnvironmentProblem as exc:
            raise EnvironmentProblem(f"phase {'+'.join(p.id for p in step)}: {exc.what}", where=exc.where,
                                     fix=(exc.fix or "").replace("nothing was created", "no workflow was created"),
                                     error_key=exc.error_key) from None
        earlier += [a.path for phase in step for a in phase.artifacts]


def check_can_run(state: WorkflowState, *, skip: bool = False) -> None:
    """Why `next` may not run now (raises), so a detached runner is never started for nothing."""
    refuse_live_runner(state)
    if interrupted(state):
        raise refusal(state, "its runner stopped in the middle of a phase",
                      f"`launcher workflow resume {state.id}` continues that phase")
    if skip:
        if state.status is not WorkflowStatus.PAUSED or not state.paused_on:
            raise refusal(state, "there is no failed phase to skip", f"`launcher workflow status {state.id}`")
        return
    if state.status is WorkflowStatus.WAITING_CHECKPOINT:
        raise refusal(state, "the last phase waits for the operator",
                      f"`launcher workflow checkpoint {state.id} --signal REF` releases the next phase")
    if state.status is WorkflowStatus.PAUSED:
        if state.paused_on:  # its message says why and offers retry, skip and cancel
            raise refusal(state, f"it is paused on phase {state.paused_on}",
                          state.message)
        raise refusal(state, "the operator paused it", f"`launcher workflow resume {state.id}` continues it")
    if state.status.is_final:
        raise refusal(state, "nothing is left to run", "`launcher workflow start NAME` starts a new one")


async def run_next(cwd: Path, workflow_id: str, emit: EventSink, *, skip: bool = False,
                   spawned: bool = False) -> WorkflowState:
    """Run the next step in this process. `spawned`: started detached by `start`/`next` (MCP),
    whose spawner recorded our pid."""
    session = await WorkflowSession.open(cwd)
    async with session.claim(workflow_id):
        state = session.load(workflow_id)
        if spawned and state.runner_pid == os.getpid():
            state.runner_pid = None
        check_can_run(state, skip=skip)
        await check_shared_credentials(session.repo)  # refused (exit 3) changing nothing, as MCP `next` is
        if skip:
            skipped = state.paused_on
            assert skipped is not None
            # the paused phase's step: phases run side by side are skipped together, or the same
            # step (with its other failed phase) would be run, and fail, again
            group = [p.id for step in session.template_of(state).steps() if skipped in {p.id for p in step}
                     for p in step]

            def skip_it(now: WorkflowState) -> None:
                if now.paused_on != skipped or now.status is not WorkflowStatus.PAUSED:
                    raise refusal(now, f"phase {skipped} is no longer the paused one", now.message)
                for row in (now.phase(pid) for pid in group or [skipped]):
                    if row.id == skipped or row.status not in (PhaseStatus.SUCCEEDED, PhaseStatus.SKIPPED):
                        row.status, row.finished_at = PhaseStatus.SKIPPED, time.time()
                now.paused_on, now.status = None, WorkflowStatus.READY
                now.options.pop("parked", None)
                now.message = f"phase {skipped} skipped; `launcher workflow next {now.id}` runs the next phase"

            state = session.update(state.id, skip_it)
        if lost := await integrity.lost_work(session.repo, state):  # before a phase starts, or it completes
            return session.update(state.id, lambda now: integrity.pause_for_lost(now, lost))
        step = phase_run.next_step(session, state)
        if not step:
            def complete(now: WorkflowState) -> None:
                now.status, now.message = WorkflowStatus.COMPLETED, integrity.completion_message(now)
            return session.update(state.id, complete)
        state = await phase_run.begin_step(session, state, step, f"workflow next {state.id}")
    return await phase_run.run_step(session, state, step, emit)


async def record_checkpoint(cwd: Path, workflow_id: str, signal_ref: str) -> WorkflowState:
    if not signal_ref.strip():
        raise UsageProblem("a checkpoint needs a signal", fix="pass --signal REF (a commit, a ticket, a word)")
    session = await WorkflowSession.open(cwd)

    def record(state: WorkflowState) -> None:
        if (refused := integrity.checkpoint_refusal(state)) is not None:
            raise refused  # its message (why it ended or paused, what was kept) stays
        running = [p.id for p in state.phases if p.status is PhaseStatus.RUNNING]
        if state.status is WorkflowStatus.RUNNING and running:
            phase_run.record_checkpoint_while_running(session, state, running, signal_ref)
            return
        done = [p for p in state.phases if p.status is PhaseStatus.SUCCEEDED]
        state.checkpoints.append({"phase": done[-1].id if done else None, "signal": signal_ref, "at": time.time()})
        if state.status is WorkflowStatus.WAITING_CHECKPOINT:
            state.status = WorkflowStatus.READY
            state.message = (f"checkpoint {signal_ref!r} recorded; `launcher workflow next {state.id}` "
                             "runs the next phase")
        elif state.status is WorkflowStatus.PAUSED and state.resume_to is WorkflowStatus.WAITING_CHECKPOINT:
            state.resume_to = WorkflowStatus.READY
            state.message = f"checkpoint {signal_ref!r} recorded; the workflow is still paused"
        else:  # an operator's pause stays said
            state.message = f"checkpoint {signal_ref!r} recorded (nothing was waiting for it)" + \
                integrity.still_paused(state)

    session.load(workflow_id)  # an unknown workflow is refused as such
    return session.update(workflow_id, record)


async def pause(cwd: Path, workflow_id: str) -> WorkflowState:
    """Under the claim lock, as `next` and `resume` decide and record their runner: a pause
    between a `next`'s "may it run?" and the record of the runner it spawned would leave that
    answer (`ok`, the phase runs in process N) false, the runner refused at its start."""
    session = await WorkflowSession.open(cwd)

    def request(state: WorkflowState) -> None:
        # A runner recorded before its phase began (spawned by `next`, state still `ready`, or by
        # `resume` of a failed phase, still `paused`) runs that phase: the pause waits for its
        # end, as for a running phase.
        if state.status in (WorkflowStatus.RUNNING, WorkflowStatus.READY, WorkflowStatus.PAUSED) \
                and runner_alive(state):
            state.pause_requested = True
            state.message = "pause requested: the workflow pauses when the running phase finishes"
        elif state.status in (WorkflowStatus.READY, WorkflowStatus.WAITING_CHECKPOINT):
            state.resume_to, state.status = state.status, WorkflowStatus.PAUSED
            state.message = f"paused by the operator; `launcher workflow resume {state.id}` continues"
        else:
            raise refusal(state, "it cannot be paused now", f"`launcher workflow status {state.id}`")

    async with session.claim(workflow_id):
        return session.update(workflow_id, request)


def resume_runs_a_phase(state: WorkflowState, *, retry_failed: bool = False) -> bool:
    """Whether `resume` runs (or finishes) a phase, which a detached runner should do; raises
    when it may not resume now: a live runner, a failed phase without --retry-failed, nothing."""
    refuse_live_runner(state)
    if interrupted(state):
        return True
    if state.status is WorkflowStatus.PAUSED and state.paused_on:
        if not retry_failed and not parked(state):
            raise refusal(state, f"phase {state.paused_on} failed", state.message)
        return True
    if state.status is WorkflowStatus.PAUSED:
        return False
    raise refusal(state, "there is nothing to resume", f"`launcher workflow status {state.id}`")


def check_step_free(session: WorkflowSession, state: WorkflowState) -> None:
    """Raise RunBusy, changing nothing, while another live launcher (a `launcher resume RUN`)
    drives the run that `resume` would continue: a detached runner would be refused the same way
    (`phase_run.begin_step`) after its caller had been told the phase runs."""
    if interrupted(state):
        step = running_step(session, state)
    elif state.status is WorkflowStatus.PAUSED and state.paused_on and not parked(state):
        step = phase_run.next_step(session, state)
        if phase_run.retry_starts_new_run(state, step):
            return  # a new run starts
    else:
        return
    run_id = state.phase(step[0].id).run_id
    if run_id is not None:
        session.journal().check_free(run_id, f"workflow resume {state.id}")


async def resume(cwd: Path, workflow_id: str, emit: EventSink, *, retry_failed: bool = False,
                 spawned: bool = False) -> WorkflowState:
    session = await WorkflowSession.open(cwd)
    async with session.claim(workflow_id):
        state = session.load(workflow_id)
        if spawned and state.runner_pid == os.getpid():
            state.runner_pid = None
        if resume_runs_a_phase(state, retry_failed=retry_failed):  # refused while a runner lives
            await check_shared_credentials(session.repo)  # refused (exit 3) changing nothing, as over MCP
        artifacts.reap_left_behind(session.journal(), state.id)  # a killed runner's test command
        if not runner_alive(state):  # what a killed runner's test command installed into the user's venv
            await _put_back_left(session, state, emit)
        if interrupted(state):  # a crashed runner: continue its phase's run
            step = running_step(session, state)
            state = await phase_run.begin_step(session, state, step, f"workflow resume {state.id}")
            retry = False
        elif state.status is WorkflowStatus.PAUSED and state.paused_on:
            if parked(state):
                return await _take_parked(session, state)
            await integrity.refuse_retry_on_lost_work(session.repo, state)
            step = phase_run.next_step(session, state)
            again = phase_run.retry_starts_new_run(state, step)  # its run has nothing to retry: a new run
            state = await phase_run.begin_step(session, state, step, f"workflow resume {state.id}", new_run=again)
            retry = not again
        elif state.status is WorkflowStatus.PAUSED:
            def unpause(now: WorkflowState) -> None:
                if now.status is not WorkflowStatus.PAUSED or now.paused_on:
                    raise refusal(now, "there is nothing to resume", f"`launcher workflow status {now.id}`")
                now.status, now.resume_to = now.resume_to or WorkflowStatus.READY, None
                now.pause_requested = False
                now.options.pop(integrity.LOST_WORK, None)  # `next` checks again
                now.message = "resumed"
            return session.update(state.id, unpause)
        else:
            raise refusal(state, "there is nothing to resume", f"`launcher workflow status {state.id}`")
    return await phase_run.run_step(session, state, step, emit, retry_failed=retry)


async def _put_back_left(session: WorkflowSession, state: WorkflowState, emit: EventSink) -> None:
    """Put back what a dead runner's test command installed into the user's venvs; what changed
    there is told: the phase's notes (stored, and on `state`; kept when it finishes:
    `install_notes`) and events."""
    put_back = await artifacts.put_back_installs(session.scratch_root(state.id), session.folder(state.id))
    said = install_notes.notes(put_back, install_notes.LEFT_WHY)
    if said:
        install_notes.emit_all(emit, state, said)
        session.update(state.id, lambda now: install_notes.add(now, said))
        install_notes.add(state, said)


async def check_parked_held(session: WorkflowSession, state: WorkflowState) -> None:
    """Refuses (saying what to run) while the target does not hold the parked phase's result."""
    info = parked(state)
    assert info is not None
    branch, commit, target = str(info["branch"]), str(info["commit"]), state.target
    held = await session.repo.git("merge-base", "--is-ancestor", commit, f"refs/heads/{target}", check=False)
    if not held.ok:
        raise UsageProblem(
            f"workflow {state.id}: phase {state.paused_on}'s result ({commit[:12]} on {branch}) is not on {target} yet",
            fix=f"commit or stash the local changes of the main work tree, run `git merge --ff-only {branch}` on "
                f"{target}, then `launcher workflow resume {state.id}` again",
            error_key="workflow_parked")


async def _take_parked(session: WorkflowSession, state: WorkflowState) -> WorkflowState:
    """The parked phase's result, once the target holds it: the phase succeeds (artifacts are
    written) and the workflow goes on; before that, say what to run."""
    await check_parked_held(session, state)
    info = parked(state)
    assert info is not None
    run_id, journal = str(info["run_id"]), session.journal()
    claim = journal.claim_run(run_id, f"workflow resume {state.id}")
    try:  # the journal records the run as landed: no report points at its integration branch any more
        await parked_work.record_merged_by_operator(session.repo, journal, claim, state.target)
    finally:
        journal.release_run(claim)
    step = phase_run.next_step(session, state)
    report = build_report(session.journal(), str(info["run_id"]), session.repo.root)
    return await phase_run.finish_step(session, state, step, report, landed_by_operator=True)


async def cancel(cwd: Path, workflow_id: str, *, force: bool = False) -> WorkflowState:
    """Stop the runner and end the unfinished phase's run (app/workflow/cancel.py); agents'
    commits the target does not reach are kept unless `force`."""
    from launcher.app.workflow.cancel import cancel_workflow  # it builds on this module
    return await cancel_workflow(cwd, workflow_id, force=force)


async def status(cwd: Path, workflow_id: str | None) -> WorkflowState:
    """The workflow as it is now; a running phase shows its tasks as its run's journal has them
    (the progress an MCP client polls), not only once the phase ends."""
    session = await WorkflowSession.open(cwd)
    if workflow_id:
        return _with_live_tasks(session, notice_dead_runner(session, session.load(workflow_id)))
    found = session.store.all(limit=1)
    if not found:
        raise UsageProblem("there is no workflow yet", fix="start one with `launcher workflow start NAME`",
                           error_key="workflow_not_found")
    return _with_live_tasks(session, notice_dead_runner(session, found[0]))


def _with_live_tasks(session: WorkflowSession, state: WorkflowState) -> WorkflowState:
    """Fill a running phase's task list from its run's journal (shown only, never saved)."""
    # always from the journal while it runs: a retried phase still holds its last attempt's list
    running = [row for row in state.phases if row.status is PhaseStatus.RUNNING and row.run_id]
    if not running:
        return state
    phases = {p.id: p for p in session.template_of(state).phases}
    for row in running:
        phase = phases.get(row.id)
        if phase is None or row.run_id is None:
            continue
        roles = {phase.task_id(spec.role): spec.role for spec in phase.roles}
        try:
            run = session.journal().run(row.run_id)
            tasks = session.journal().tasks(row.run_id)
        except RunNotFound:
            continue
        agents = {t.get("id"): t.get("agent", "") for t in run.plan.get("task", []) if isinstance(t, dict)}
        row.tasks = [{"id": t.task_id, "role": roles[t.task_id], "agent": agents.get(t.task_id, ""),
                      "state": t.state.value, "merged": bool(t.merged), "message": t.message}
                     for t in tasks if t.task_id in roles]
    return state


async def listing(cwd: Path, *, everything: bool = False) -> list[WorkflowState]:
    session = await WorkflowSession.open(cwd)
    states = [notice_dead_runner(session, s) for s in session.store.all()]
    return [s for s in states if everything or not s.status.is_final]
