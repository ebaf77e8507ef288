"""A workflow's runner: the process that runs its phases (this one, or a detached one whose
output goes to `runner.log` in the workflow's folder). Whether it still lives (pid and start
time), refusing a second one, the end of its log, and what a dead one leaves: a phase
interrupted mid-run (`resume` continues it), or one that failed to start."""

from __future__ import annotations

import os
import time
from typing import Any

from launcher import process_identity
from launcher.app.workflow import artifacts, phase_run
from launcher.app.workflow.session import WorkflowSession
from launcher.errors import UsageProblem
from launcher.models.workflow import PhaseStatus, WorkflowState, WorkflowStatus

RUNNER_LOG = "runner.log"
RUNNER_MARK = "--- launcher workflow runner: "  # the first line a detached runner's log gets


def runner_alive(state: WorkflowState) -> bool:
    """Whether the recorded runner still runs: we ourselves (this process runs the phase), or
    the same live process that was recorded, by pid *and* start time (a zombie, or a newer
    process the kernel gave a dead runner's pid, does not count: not even this one)."""
    pid = state.runner_pid
    if not pid:
        return False
    if state.runner_started is None:  # no start time (an older launcher, no /proc): the pid must run launcher
        return pid == os.getpid() or process_identity.launcher_alive(pid, None)
    return process_identity.alive(pid, state.runner_started)


def interrupted(state: WorkflowState) -> bool:
    """Running, its runner dead: `resume` continues its phase."""
    return state.status is WorkflowStatus.RUNNING and not runner_alive(state)


def refuse_live_runner(state: WorkflowState) -> None:
    if runner_alive(state):
        raise UsageProblem(f"workflow {state.id} has a runner already: its phase runs in process {state.runner_pid}",
                           fix=f"watch it with `launcher workflow status {state.id}`; "
                               f"`launcher workflow cancel {state.id}` stops it"
                               + (f"; {process_identity.stop_advice(state.runner_pid or 0)}"
                                  if process_identity.stopped(state.runner_pid or 0) else ""),
                           error_key="workflow_runner_alive")


def runner_log_tail(session: WorkflowSession, workflow_id: str, lines: int = 8) -> str:
    """The last lines the latest detached runner wrote (its traceback, if it crashed)."""
    path = session.folder(workflow_id) / RUNNER_LOG
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    text = text.rsplit(RUNNER_MARK, 1)[-1]
    kept = [line.rstrip() for line in text.splitlines()[1:] if line.strip()]
    return "\n".join(kept[-lines:])[-2000:]


def notice_dead_runner(session: WorkflowSession, state: WorkflowState) -> WorkflowState:
    """A recorded runner whose process is gone: mid-run it is `interrupted` (resume continues the
    run); before its run began (a crash while starting), its phase failed. Either way the end of
    its log says why. Decided again on the state as it is when written (a runner recorded since
    `state` was read is left alone)."""
    if not state.runner_pid or runner_alive(state):
        return state
    return session.update(state.id, lambda now: _settle_dead_runner(session, now))


def _settle_dead_runner(session: WorkflowSession, state: WorkflowState) -> bool:
    pid = state.runner_pid
    if not pid or runner_alive(state):
        return False
    tail = runner_log_tail(session, state.id)
    said = f"; its log ends:\n{tail}\n" if tail else "; "
    wid = state.id
    if state.status is WorkflowStatus.RUNNING:
        step = running_step(session, state)
        if any(state.phase(p.id).run_id for p in step):
            message = (f"the runner (process {pid}) stopped in the middle of phase "
                       f"{'+'.join(p.id for p in step)}{said}`launcher workflow resume {wid}` continues it")
            if state.message == message:
                return False
            state.message = message
            return True
    elif state.status is WorkflowStatus.PAUSED and state.paused_on:  # a retry that never began
        state.runner_pid = None
        state.message = (f"the runner (process {pid}) retrying phase {state.paused_on} exited before the phase "
                         f"ran{said}fix the cause, then `launcher workflow resume {wid} --retry-failed`, "
                         f"`launcher workflow next {wid} --skip` or `launcher workflow cancel {wid}`")
        return True
    elif state.status is not WorkflowStatus.READY:
        state.runner_pid = None
        return True
    step = running_step(session, state) if state.status is WorkflowStatus.RUNNING else \
        phase_run.next_step(session, state)
    state.runner_pid = None
    if not step:
        return True
    names = "+".join(p.id for p in step)
    error = f"the runner (process {pid}) exited before the phase's run began" + (f": {tail}" if tail else "")
    for phase in step:
        row = state.phase(phase.id)
        row.status, row.error, row.finished_at = PhaseStatus.FAILED, error, time.time()
        row.artifacts = [artifacts.write_error(session.folder(wid), phase, None, error)]
    if state.pause_on_failure:
        state.status, state.paused_on = WorkflowStatus.PAUSED, step[0].id
        state.message = (f"phase {names} failed to start: the runner (process {pid}) exited{said}"
                         f"fix the cause, then retry (`launcher workflow resume {wid} --retry-failed`), skip "
                         f"(`launcher workflow next {wid} --skip`) or cancel (`launcher workflow cancel {wid}`)")
    else:
        state.status = WorkflowStatus.FAILED
        state.message = f"phase {names} failed to start: the runner (process {pid}) exited{said}".rstrip("; \n")
    return True


def running_step(session: WorkflowSession, state: WorkflowState) -> list[Any]:
    template = session.template_of(state)
    running = {p.id for p in state.phases if p.status is PhaseStatus.RUNNING}
    for step in template.steps():
        if running.intersection(p.id for p in step):
            return phase_run.unfinished(state, step)
    return phase_run.next_step(session, state)
