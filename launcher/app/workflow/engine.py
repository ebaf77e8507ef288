"""The workflow state machine: start, next, checkpoint, pause, resume, cancel, status, list.

ready --next--> running --> ready | waiting_checkpoint (a checkpoint phase) | completed
                        \\-> paused (a failed phase, pause_on_failure) | failed
waiting_checkpoint --checkpoint--> ready;  paused --resume [--retry-failed] / next --skip--> ...
A runner that died mid-phase leaves `running` with a dead runner pid: `resume` continues the
phase's run where it stopped (no finished phase or task is repeated)."""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

from launcher import process
from launcher.app.context import EventSink
from launcher.app.workflow import phase_run
from launcher.app.workflow.planner import check_params, custom_template
from launcher.app.workflow.session import WorkflowSession
from launcher.errors import UsageProblem
from launcher.models.workflow import PhaseState, PhaseStatus, WorkflowState, WorkflowStatus


def runner_alive(pid: int | None) -> bool:
    """A live process other than us (a zombie does not count)."""
    if not pid or pid == os.getpid() or not process.pid_alive(pid):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _refuse(state: WorkflowState, what: str, fix: str) -> UsageProblem:
    return UsageProblem(f"workflow {state.id} is {state.status.value}: {what}", fix=fix,
                        error_key=f"workflow_{state.status.value}")


def _interrupted(state: WorkflowState) -> bool:
    return state.status is WorkflowStatus.RUNNING and not runner_alive(state.runner_pid)


async def create(cwd: Path, name: str, params: dict[str, str], options: dict[str, Any]) -> WorkflowState:
    session = await WorkflowSession.open(cwd)
    if name == "custom":
        template = custom_template(params.get("task", ""))
        options = {**options, "custom_template": template.model_dump(mode="json", by_alias=True)}
    else:
        template = session.templates().get(name) or _unknown(session, name)
    filled = check_params(template, params)
    target = await session.repo.current_branch()
    if not target:
        raise UsageProblem("the main work tree has a detached HEAD, so a workflow has no branch to land on",
                           fix="check out a branch first")
    state = WorkflowState(
        id=f"wf_{secrets.token_hex(6)}", template=template.name, params=filled, options=options, target=target,
        base_sha=await session.repo.rev_parse(target), pause_on_failure=template.pause_on_failure,
        phases=[PhaseState(id=p.id, name=p.title) for p in template.phases],
        message="created; `launcher workflow next` runs the first phase",
    )
    session.save(state)
    return state


def _unknown(session: WorkflowSession, name: str) -> Any:
    raise UsageProblem(f"no workflow template {name!r}", fix=f"one of: {', '.join(sorted(session.templates()))}",
                       error_key="workflow_unknown")


def check_can_run(state: WorkflowState, *, skip: bool = False) -> None:
    """Why `next` may not run now (raises), so a detached runner is never started for nothing."""
    if runner_alive(state.runner_pid):
        raise _refuse(state, f"its phase runs in process {state.runner_pid}",
                      f"watch it with `launcher workflow status {state.id}`")
    if _interrupted(state):
        raise _refuse(state, "its runner stopped in the middle of a phase",
                      f"`launcher workflow resume {state.id}` continues that phase")
    if skip:
        if state.status is not WorkflowStatus.PAUSED or not state.paused_on:
            raise _refuse(state, "there is no failed phase to skip", f"`launcher workflow status {state.id}`")
        return
    if state.status is WorkflowStatus.WAITING_CHECKPOINT:
        raise _refuse(state, "the last phase waits for the operator",
                      f"`launcher workflow checkpoint {state.id} --signal REF` releases the next phase")
    if state.status is WorkflowStatus.PAUSED:
        fix = state.message if state.paused_on else f"`launcher workflow resume {state.id}`"
        raise _refuse(state, "it is paused", fix)
    if state.status.is_final:
        raise _refuse(state, "nothing is left to run", "`launcher workflow start NAME` starts a new one")


async def run_next(cwd: Path, workflow_id: str, emit: EventSink, *, skip: bool = False,
                   spawned: bool = False) -> WorkflowState:
    """Run the next step in this process. `spawned`: started detached by `start`/`next` (MCP),
    whose spawner recorded our pid."""
    session = await WorkflowSession.open(cwd)
    state = session.load(workflow_id)
    if spawned and state.runner_pid == os.getpid():
        state.runner_pid = None
    check_can_run(state, skip=skip)
    if skip:
        assert state.paused_on is not None
        row = state.phase(state.paused_on)
        row.status, row.finished_at = PhaseStatus.SKIPPED, time.time()
        state.paused_on, state.status = None, WorkflowStatus.READY
        session.save(state)
    step = phase_run.next_step(session, state)
    if not step:
        state.status = WorkflowStatus.COMPLETED
        session.save(state)
        return state
    return await phase_run.run_step(session, state, step, emit)


async def record_checkpoint(cwd: Path, workflow_id: str, signal_ref: str) -> WorkflowState:
    if not signal_ref.strip():
        raise UsageProblem("a checkpoint needs a signal", fix="pass --signal REF (a commit, a ticket, a word)")
    session = await WorkflowSession.open(cwd)
    state = session.load(workflow_id)
    done = [p for p in state.phases if p.status is PhaseStatus.SUCCEEDED]
    state.checkpoints.append({"phase": done[-1].id if done else None, "signal": signal_ref, "at": time.time()})
    if state.status is WorkflowStatus.WAITING_CHECKPOINT:
        state.status = WorkflowStatus.READY
        state.message = f"checkpoint {signal_ref!r} recorded; `launcher workflow next {state.id}` runs the next phase"
    elif state.status is WorkflowStatus.PAUSED and state.resume_to is WorkflowStatus.WAITING_CHECKPOINT:
        state.resume_to = WorkflowStatus.READY
        state.message = f"checkpoint {signal_ref!r} recorded; the workflow is still paused"
    else:
        state.message = f"checkpoint {signal_ref!r} recorded (nothing was waiting for it)"
    session.save(state)
    return state


async def pause(cwd: Path, workflow_id: str) -> WorkflowState:
    session = await WorkflowSession.open(cwd)
    state = session.load(workflow_id)
    if state.status is WorkflowStatus.RUNNING and runner_alive(state.runner_pid):
        state.pause_requested = True
        state.message = "pause requested: the workflow pauses when the running phase finishes"
    elif state.status in (WorkflowStatus.READY, WorkflowStatus.WAITING_CHECKPOINT):
        state.resume_to, state.status = state.status, WorkflowStatus.PAUSED
        state.message = f"paused by the operator; `launcher workflow resume {state.id}` continues"
    else:
        raise _refuse(state, "it cannot be paused now", f"`launcher workflow status {state.id}`")
    session.save(state)
    return state


async def resume(cwd: Path, workflow_id: str, emit: EventSink, *, retry_failed: bool = False) -> WorkflowState:
    session = await WorkflowSession.open(cwd)
    state = session.load(workflow_id)
    if _interrupted(state):  # a crashed runner: continue its phase's run
        return await phase_run.run_step(session, state, _running_step(session, state), emit)
    if state.status is WorkflowStatus.PAUSED and state.paused_on:
        if not retry_failed:
            raise _refuse(state, f"phase {state.paused_on} failed", state.message)
        step = phase_run.next_step(session, state)
        state.paused_on = None
        return await phase_run.run_step(session, state, step, emit, retry_failed=True)
    if state.status is WorkflowStatus.PAUSED:
        state.status, state.resume_to = state.resume_to or WorkflowStatus.READY, None
        state.pause_requested = False
        state.message = "resumed"
        session.save(state)
        return state
    raise _refuse(state, "there is nothing to resume", f"`launcher workflow status {state.id}`")


def _running_step(session: WorkflowSession, state: WorkflowState) -> list[Any]:
    template = session.template_of(state)
    running = {p.id for p in state.phases if p.status is PhaseStatus.RUNNING}
    for step in template.steps():
        if running.intersection(p.id for p in step):
            return step
    return phase_run.next_step(session, state)


async def cancel(cwd: Path, workflow_id: str) -> WorkflowState:
    session = await WorkflowSession.open(cwd)
    state = session.load(workflow_id)
    if state.status.is_final:
        raise _refuse(state, "it has already ended", "nothing to do")
    if runner_alive(state.runner_pid):
        assert state.runner_pid is not None
        process.signal_group(state.runner_pid, signal.SIGTERM) or _signal(state.runner_pid)
    for row in state.phases:
        if row.status is PhaseStatus.RUNNING:
            row.status, row.error = PhaseStatus.FAILED, "cancelled"
    state.status, state.runner_pid, state.paused_on = WorkflowStatus.CANCELLED, None, None
    state.message = "cancelled by the operator; what earlier phases landed stays"
    session.save(state)
    return state


def _signal(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


async def status(cwd: Path, workflow_id: str | None) -> WorkflowState:
    session = await WorkflowSession.open(cwd)
    if workflow_id:
        return session.load(workflow_id)
    found = session.store.all(limit=1)
    if not found:
        raise UsageProblem("there is no workflow yet", fix="start one with `launcher workflow start NAME`",
                           error_key="workflow_not_found")
    return found[0]


async def listing(cwd: Path, *, everything: bool = False) -> list[WorkflowState]:
    session = await WorkflowSession.open(cwd)
    return [s for s in session.store.all() if everything or not s.status.is_final]


def offers(state: WorkflowState) -> list[str]:
    """What the operator can do next, as commands."""
    wid = state.id
    if _interrupted(state):
        return [f"launcher workflow resume {wid}", f"launcher workflow cancel {wid}"]
    if state.status is WorkflowStatus.PAUSED and state.paused_on:
        return [f"launcher workflow resume {wid} --retry-failed", f"launcher workflow next {wid} --skip",
                f"launcher workflow cancel {wid}"]
    return {
        WorkflowStatus.READY: [f"launcher workflow next {wid}", f"launcher workflow pause {wid}"],
        WorkflowStatus.WAITING_CHECKPOINT: [f"launcher workflow checkpoint {wid} --signal REF"],
        WorkflowStatus.PAUSED: [f"launcher workflow resume {wid}", f"launcher workflow cancel {wid}"],
        WorkflowStatus.RUNNING: [f"launcher workflow status {wid}", f"launcher workflow pause {wid}"],
    }.get(state.status, [])


def state_view(state: WorkflowState, folder: Path | None = None) -> dict[str, Any]:
    data = state.model_dump(mode="json", exclude={"options"})
    data["interrupted"] = _interrupted(state)
    data["offers"] = offers(state)
    if folder is not None:
        data["folder"] = str(folder)
    return data
