"""`launcher workflow cancel`: stop the runner (and wait until it is gone), end the unfinished
phase's run so nothing of it lands, and credit a phase whose run had already landed."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from launcher import process, process_identity
from launcher.app.land import recovery
from launcher.app.report import build_report
from launcher.app.workflow import artifacts, install_notes, phase_run
from launcher.app.workflow import parked as parked_work
from launcher.app.workflow.engine import CANCEL_MARK, STOP_GRACE_S, refusal
from launcher.app.workflow.runner import RUNNER_LOG, runner_alive
from launcher.app.workflow.session import WorkflowSession
from launcher.errors import LauncherError, RunNotFound
from launcher.models.config import config_of_run
from launcher.models.states import RunStatus, TaskState
from launcher.models.workflow import Phase, PhaseState, PhaseStatus, WorkflowState, WorkflowStatus
from launcher.store.journal import RunRow
from launcher.store.run_claim import Claim, RunBusy


async def cancel_workflow(cwd: Path, workflow_id: str, *, force: bool = False) -> WorkflowState:
    """Stop the runner (and wait until it is gone), end the unfinished phase's run so nothing of
    it lands (`launcher resume` of it lands nothing), and remove its worktrees and branches: only
    what earlier phases landed stays. As `launcher clean` does, a branch or ref holding agents'
    commits the target does not reach (approved or parked work, a failed task's commits, an
    earlier attempt) is kept and named unless `force`. Holds the claim lock throughout, so no
    `next`/`resume` starts a runner while the workflow is being cancelled."""
    session = await WorkflowSession.open(cwd)
    if session.load(workflow_id).status.is_final:
        raise refusal(session.load(workflow_id), "it has already ended", "nothing to do")
    # shielded: a caller that gives up (an MCP client cancelling its request) must not leave the
    # runner stopped but the workflow still `running`
    with anyio.CancelScope(shield=True):
        async with session.claim(workflow_id):
            state = session.load(workflow_id)
            if state.status.is_final:
                raise refusal(state, "it has already ended", "nothing to do")
            pid = state.runner_pid
            # A phase's run another launcher drives (the user's `launcher resume RUN`, `land`,
            # `choose`, `grade`) goes on and may land: refused before anything is stopped.
            _refuse_if_driven(session, state, pid if runner_alive(state) else None)
            if pid and pid != os.getpid() and runner_alive(state):
                marker = session.folder(state.id) / CANCEL_MARK
                marker.write_text(f"{os.getpid()} {process_identity.start_time(os.getpid())}\n")  # cancel_running
                try:
                    await _stop(pid, state.runner_started)
                finally:
                    marker.unlink(missing_ok=True)
                state = session.load(workflow_id)  # what the runner saved on its way out
            if not runner_alive(state):  # what a runner killed while testing a phase left running
                artifacts.reap_left_behind(session.journal(), state.id)
                # and what its test command installed into the user's venv (before the runs' clean)
                try:
                    scratch: Path | None = session.scratch_root(state.id)
                except LauncherError:  # launcher.toml unreadable mid-edit: cancel never needs it
                    scratch = None  # the record names the root its guard watched
                put_back = await artifacts.put_back_installs(scratch, session.folder(state.id))
                installs = install_notes.notes(put_back, install_notes.LEFT_WHY)
            else:
                installs = []
            concerned = {row.id for row in install_notes.rows_concerned(state)}
            ended = _ended_phases(state)
            # Every run claimed before any is ended: one another launcher took meanwhile refuses
            # the cancel whole (the runner is stopped; the workflow is as it left it).
            claims = _claim_all(session, state, [str(row.run_id) for row in ended])
            removed: list[str] = []
            said: list[str] = []
            try:
                for row in ended:
                    claim = claims.pop(str(row.run_id), None)
                    outcome = await _end_run(session, state, str(row.run_id), claim, force=force)
                    removed += outcome.removed
                    said.append(_credit(session, state, row, outcome))
            finally:
                for claim in claims.values():  # not reached: an earlier one failed
                    session.journal().release_run(claim)
            credited = {row.id: row for row in ended}
            kept = [line for line in removed if line.startswith("kept ")]
            gone = [line for line in removed if not line.startswith("kept ")]

            def end(now: WorkflowState) -> None:
                now.phases = [credited.get(row.id, row) for row in now.phases]
                for row in now.phases:  # what the dead runner's test command left, put back: told
                    row.notes = install_notes.merged(row.notes, installs) if row.id in concerned else row.notes
                for row in now.phases:
                    if row.status is PhaseStatus.RUNNING:
                        row.status, row.error, row.finished_at = PhaseStatus.FAILED, "cancelled", time.time()
                now.status, now.runner_pid, now.paused_on = WorkflowStatus.CANCELLED, None, None
                now.pause_requested = False
                now.options.pop("parked", None)
                now.message = "cancelled by the operator; what earlier phases landed stays"
                if said:
                    now.message += "; " + "; ".join(said) + f"; {len(gone)} worktree(s)/branch(es) removed"
                if kept:
                    now.message += "; " + "; ".join(kept)

            state = session.update(workflow_id, end)
        log = session.folder(state.id) / RUNNER_LOG
        if log.exists():
            with log.open("a", encoding="utf-8") as fh:
                fh.write(f"--- cancelled by the operator (`launcher workflow cancel {state.id}`): {state.message}\n")
    return state


def cancel_running(session: WorkflowSession, workflow_id: str) -> bool:
    """Whether a `launcher workflow cancel` is stopping the workflow's runner now: its marker is
    there and the cancel that wrote it (pid and start time) still runs. A cancel killed before
    it removed its marker (SIGKILL) left a stale one, which says nothing: the interrupted phase
    is then said to be resumable, as it is."""
    try:
        pid, started = (session.folder(workflow_id) / CANCEL_MARK).read_text(encoding="utf-8").split()
        return process_identity.alive(int(pid), None if started == "None" else int(started))
    except (OSError, ValueError):  # no marker, or one an older launcher wrote (a time): not a live cancel's
        return False


def _ended_phases(state: WorkflowState) -> list[PhaseState]:
    """The phases whose runs a cancel ends: those running, and the one it is paused on."""
    return [row for row in state.phases
            if row.run_id and (row.status is PhaseStatus.RUNNING or row.id == state.paused_on)]


def _refuse_if_driven(session: WorkflowSession, state: WorkflowState, runner: int | None) -> None:
    """Raise RunBusy, changing nothing, while a launcher other than the workflow's live `runner`
    drives a phase's run: ended under it, the run would go on and land what the workflow then
    records as cancelled."""
    journal = session.journal()
    for row in _ended_phases(state):
        try:
            run = journal.run(str(row.run_id))
        except RunNotFound:
            continue
        holder = run.launcher_pid
        if run.driven_elsewhere and holder is not None and holder != runner:
            raise RunBusy(
                f"phase {row.id}'s run {run.id} is driven by another launcher (pid {holder}: a `launcher resume`, "
                f"`land`, `choose` or `grade` of it), which may still land it, so `launcher workflow cancel "
                f"{state.id}` changes nothing", where=str(journal.path),
                fix=f"wait for that launcher to finish (`launcher status {run.id}` shows the run), or "
                    f"{process_identity.stop_advice(holder)}, then run `launcher workflow cancel {state.id}` again")


def _claim_all(session: WorkflowSession, state: WorkflowState, run_ids: list[str]) -> dict[str, Claim]:
    """Claim each phase run the cancel ends (a run never recorded has none); when one is driven by
    another launcher, release those taken and raise its RunBusy."""
    journal = session.journal()
    claims: dict[str, Claim] = {}
    try:
        for run_id in run_ids:
            try:
                claims[run_id] = journal.claim_run(run_id, f"workflow cancel {state.id}")
            except RunNotFound:
                continue
    except RunBusy:
        for claim in claims.values():
            journal.release_run(claim)
        raise
    return claims


async def _stop(pid: int, started: int | None) -> None:
    """SIGTERM the runner (its group, when it leads one), then SIGKILL after a grace period."""
    if process.signal_group(pid, 0):
        await process.terminate_group(pid, STOP_GRACE_S)
        return
    for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while process_identity.alive(pid, started) and time.monotonic() < deadline:
            await anyio.sleep(0.05)
        if not process_identity.alive(pid, started):
            return


@dataclass
class _Ended:
    """What cancelling a phase's run found and did."""
    run_id: str
    status: RunStatus | None  # the run's status before the cancel (None: no such run)
    landed: list[str] = field(default_factory=list)  # its tasks already merged onto the target
    removed: list[str] = field(default_factory=list)
    landing: str | None = None  # what finishing the landing the stopped runner left half-done said
    landing_unfinished: bool = False  # that landing could not be finished here: the run is left to resume


async def _end_run(session: WorkflowSession, state: WorkflowState, run_id: str, claim: Claim | None, *,
                   force: bool) -> _Ended:
    """A cancelled phase's run, claimed (`claim`; None: never recorded). A run that already
    succeeded (its work is on the target) is left as it is; otherwise its unfinished (and
    approved, unlanded) tasks are cancelled, the run failed, leftover processes killed, worktrees
    and branches removed. Tasks that had already merged stay merged, and the run's message says so."""
    journal = session.journal()
    if claim is None:
        return _Ended(run_id, None)
    run = journal.run(run_id)
    tasks = journal.tasks(run_id)
    # its status before the claim (a `resume` of it started now is refused: store/run_claim.py)
    ended = _Ended(run_id, claim.previous_status, landed=[t.task_id for t in tasks if t.merged])
    try:
        if await parked_work.record_merged_by_operator(session.repo, journal, claim, state.target):
            run = journal.run(run_id)  # the operator merged its parked work: it landed
            ended.status = run.status
            ended.landed = [t.task_id for t in journal.tasks(run_id) if t.merged]
        await _finish_landing(session, claim, ended)
        if ended.landing_unfinished:
            return ended  # its target holds work the main work tree lacks: never cleaned under it
        await _end_claimed_run(session, state, run, ended, force=force)
    finally:
        journal.release_run(claim)
    return ended


async def _finish_landing(session: WorkflowSession, claim: Claim, ended: _Ended) -> None:
    """Finish the landing the stopped runner left half-done (killed, or stopped by this cancel,
    after its target ref moved), as `launcher resume` would: the target already holds the phase's
    merge, so its tasks are recorded as merged and the main work tree is brought forward, never
    left behind the target with staged changes that undo the landing. A run all of whose tasks
    landed so has succeeded. When the landing cannot be finished here, the run is left
    interrupted, its trees kept, and the message says what to run."""
    journal, run_id = session.journal(), claim.run_id
    record = journal.landing(run_id)
    if record is None or record["done"]:
        return
    # the run's own launcher.toml (journaled with it): cancelling never depends on today's file parsing
    config, _ = config_of_run(journal.run(run_id).settings, session.repo.root)
    recovered = await recovery.recover_claimed_landing(session.repo, config, journal, claim)
    tasks = journal.tasks(run_id)
    ended.landed = [t.task_id for t in tasks if t.merged]
    if recovered is None:  # nothing of it had moved: nothing lands
        return
    ended.landing = recovered[1]
    record = journal.landing(run_id)
    run = journal.run(run_id)
    if record is not None and not record["done"]:
        ended.landing_unfinished = True
        journal.set_run(run_id, status=RunStatus.INTERRUPTED,
                        message=f"{recovered[1]}; `launcher resume {run_id}` settles the rest of the run")
        return
    if tasks and all(t.merged for t in tasks):
        journal.set_run(run_id, status=RunStatus.SUCCEEDED,
                        message=f"landed on {run.target}: {recovered[1]} (finished by `launcher workflow cancel`)")
        ended.status = RunStatus.SUCCEEDED


async def _end_claimed_run(session: WorkflowSession, state: WorkflowState, run: RunRow, ended: _Ended, *,
                           force: bool) -> None:
    from launcher.app import clean
    from launcher.engine.orphans import reap_journaled

    journal, run_id = session.journal(), run.id
    reap_journaled(journal, run_id, set())
    if ended.status is RunStatus.SUCCEEDED:  # it ended (what it landed is on the target): only its trees to remove
        ended.removed = await clean.clean(session.repo.root, run_id, all_runs=False, force=False)
        return
    note = f"cancelled with workflow {state.id}"
    for task in journal.tasks(run_id):
        if task.state is TaskState.APPROVED or not task.state.is_final:
            journal.transition(run_id, task.task_id, TaskState.CANCELLED, note)
    if ended.landed:
        message = (f"{note} (`launcher workflow cancel`) after {', '.join(ended.landed)} had landed on "
                   f"{run.target}; the rest of this run does not land")
    else:
        message = f"{note} (`launcher workflow cancel`): nothing of this run lands"
    journal.set_run(run_id, status=RunStatus.FAILED, message=message)
    # agents' commits the target does not reach are kept (and named) unless --force: DESIGN 14
    ended.removed = await clean.clean(session.repo.root, run_id, all_runs=False, force=force)


def _credit(session: WorkflowSession, state: WorkflowState, row: PhaseState, ended: _Ended) -> str:
    """The cancelled phase's row as its run really ended, and the sentence saying so."""
    if ended.status is None:
        return f"phase {row.id}'s run {ended.run_id} was never recorded (nothing of it lands)"
    if ended.landing_unfinished:
        _record_tasks(session, state, row, ended)
        row.status, row.finished_at = PhaseStatus.FAILED, time.time()
        row.error = (f"cancelled while run {ended.run_id} was landing; {', '.join(ended.landed) or 'its work'} "
                     f"reached {state.target} but the landing could not be finished: {ended.landing}")
        return (f"phase {row.id}'s run {ended.run_id} was landing: {', '.join(ended.landed) or 'its work'} "
                f"reached {state.target}, but the landing could not be finished ({ended.landing}); the run "
                f"is kept: `launcher resume {ended.run_id}` finishes it")
    landing = f" (its half-done landing was finished: {ended.landing})" if ended.landing else ""
    phase = _record_tasks(session, state, row, ended)
    row.finished_at = time.time()
    if ended.status is RunStatus.SUCCEEDED and phase_run.produced_nothing(row.tasks):
        # its run succeeded with nothing to land: the phase's own tasks decide, and none landed
        row.status = PhaseStatus.FAILED
        if not row.error or row.error == "cancelled":
            row.error = (f"cancelled; run {ended.run_id} produced nothing: every task finished without "
                         f"changing a file ({', '.join(t['id'] for t in row.tasks)})")
        return (f"phase {row.id}'s run {ended.run_id} produced nothing (every task finished without a change): "
                f"nothing of it landed on {state.target}; the phase stays failed")
    if ended.status is RunStatus.SUCCEEDED:
        row.status, row.error = PhaseStatus.SUCCEEDED, None
        if phase is not None:
            artifacts.clear_error(session.folder(state.id), phase)
            row.artifacts = [a for a in row.artifacts if a != artifacts.error_path(phase)]
        return (f"phase {row.id} had already landed on {state.target} (run {ended.run_id} succeeded: "
                f"{', '.join(ended.landed) or 'its tasks'}){landing}; it stays, recorded as succeeded, "
                "without its artifacts")
    if ended.landed:
        row.status = PhaseStatus.FAILED
        row.error = (f"cancelled after {', '.join(ended.landed)} of run {ended.run_id} had landed on "
                     f"{state.target}; the rest was ended")
        return (f"phase {row.id}'s run {ended.run_id} was ended: {', '.join(ended.landed)} had already landed on "
                f"{state.target} and stay(s){landing}; the rest does not land")
    if row.status is PhaseStatus.RUNNING:
        row.status, row.error = PhaseStatus.FAILED, "cancelled"
    return f"the run {ended.run_id} of phase {row.id} was ended (nothing of it lands)"


def _record_tasks(session: WorkflowSession, state: WorkflowState, row: PhaseState, ended: _Ended) -> Phase | None:
    """The phase row's tasks and notes as the run's report has them now; the tasks a partial
    retry did not run again (they landed in an earlier run of the phase) stay, as in finish_step."""
    report = build_report(session.journal(), ended.run_id, session.repo.root)
    phase = _template_phase(session, state, row.id)
    if phase is not None:
        fresh = {t.id for t in report.tasks}
        report = phase_run.with_kept_landed(session, state, [phase], report)
        row.tasks = phase_run.kept_task_rows(session.journal(), report, phase, row.tasks, fresh)
    if phase is not None:
        row.notes = install_notes.merged(phase_run.phase_notes(report, phase), install_notes.kept(row.notes))
    return phase


def _template_phase(session: WorkflowSession, state: WorkflowState, phase_id: str) -> Phase | None:
    return next((p for p in session.template_of(state).phases if p.id == phase_id), None)
