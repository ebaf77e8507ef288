"""One step of a workflow (its phase, or phases marked parallel) as one ordinary launcher run,
from the target's current tip (what the previous phase landed); and finishing it: artifacts,
phase states, the workflow's next status. A step interrupted by a crash continues with
`launcher resume` of its run: finished tasks and rounds are never repeated."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from launcher import process_identity
from launcher.app.context import EventSink
from launcher.app.report import build_report
from launcher.app.run.runner import RunOptions, resume_run, start_run
from launcher.app.workflow import artifacts, handoff, install_notes, integrity
from launcher.app.workflow.planner import step_plan, test_command
from launcher.app.workflow.session import WorkflowSession
from launcher.errors import LauncherError, UsageProblem
from launcher.models.events import Event
from launcher.models.plan import Plan
from launcher.models.report import RunReport
from launcher.models.states import RunStatus
from launcher.models.workflow import Phase, PhaseState, PhaseStatus, WorkflowState, WorkflowStatus
from launcher.store.journal import Journal

_DONE = (PhaseStatus.SUCCEEDED, PhaseStatus.SKIPPED)


def unfinished(state: WorkflowState, step: list[Phase]) -> list[Phase]:
    """The phases of a step not yet succeeded or skipped: of phases run side by side
    (`parallel_with`), the one that succeeded while the other failed is not run again (nor
    recorded `running`, nor its artifacts written again) when the failed one is retried."""
    return [p for p in step if state.phase(p.id).status not in _DONE]


def next_step(session: WorkflowSession, state: WorkflowState) -> list[Phase]:
    """The unfinished phases of the first step with a phase not yet succeeded or skipped (empty
    when all are done)."""
    template = session.template_of(state)
    for step in template.steps():
        if left := unfinished(state, step):
            return left
    return []


async def handed_plan(session: WorkflowSession, state: WorkflowState, step: list[Phase]) -> Plan:
    """The step's run plan, its prompts naming the earlier phases' artifacts where its agents can
    read them: copied into each worktree by the run's setup (app/workflow/handoff.py)."""
    paths = [path for _, path in handoff.earlier(state)]
    if paths:
        await session.repo.ensure_excluded(f"/{handoff.IN_TREE_DIR}/")  # the copies: never committed
    setup = handoff.setup_command(session.folder(state.id), paths, session.config.setup)
    return step_plan(step, state.params, session.config, handoff.in_tree(paths), state.options.get("scripts", {}),
                     state.target, setup=setup)


def _recording(session: WorkflowSession, state: WorkflowState, step: list[Phase], emit: EventSink) -> EventSink:
    """The run's id goes into the workflow's state with the run's first event (written right
    after the run's own journal row), so a crash from then on resumes that run."""

    def sink(event: Event) -> None:
        if event.run_id and any(state.phase(p.id).run_id != event.run_id for p in step):
            def record(now: WorkflowState) -> None:
                for phase in step:
                    now.phase(phase.id).run_id = event.run_id
            record(state)  # the runner's own copy, which the rest of the step reads
            session.update(state.id, record)
        emit(event)

    return sink


def step_produced_nothing(state: WorkflowState, step: list[Phase]) -> bool:
    """Whether the step's last run ended with every task skipped (finished without a change):
    `launcher resume --retry-failed` of that run has nothing to retry, so a retry starts a new run."""
    return produced_nothing([t for p in step for t in state.phase(p.id).tasks])


def retry_starts_new_run(state: WorkflowState, step: list[Phase]) -> bool:
    """Whether a retry of the failed step starts a new run (`launcher resume --retry-failed` of its
    last run would change nothing): it produced nothing, a reviewer rejected its work (the run
    itself succeeded), or a task of it conflicted with what landed (the run retries failed,
    timed-out, cancelled and blocked tasks only)."""
    tasks = [t for p in step for t in state.phase(p.id).tasks]
    return produced_nothing(tasks) or any(t.get("approved") is False or t.get("state") == "conflicted"
                                          for t in tasks)


def _kept_landed(state: WorkflowState, step: list[Phase]) -> set[str]:
    """A retry of a step whose task conflicted: its tasks that landed are not run again (their
    work is on the target, which the new run starts from); only the others run."""
    tasks = [t for p in step for t in state.phase(p.id).tasks]
    if not any(t.get("state") == "conflicted" for t in tasks):
        return set()
    return {str(t["id"]) for t in tasks if t.get("merged")}


async def begin_step(session: WorkflowSession, state: WorkflowState, step: list[Phase], command: str,
                     *, new_run: bool = False) -> WorkflowState:
    """Record this process as the step's runner (the claim; under `session.claim`). Refused
    (RunBusy, naming `launcher <command>`) before anything is recorded while another live
    launcher drives the step's run (a `launcher resume` of it): the workflow keeps its state.
    Refused too when the workflow changed since the caller decided to run (an operator's
    `pause` came in between). `new_run`: the step's earlier run is left as it ended and a new one
    starts. Returns the state as recorded."""
    run_id = None if new_run else state.phase(step[0].id).run_id
    if run_id is not None:
        session.journal().check_free(run_id, command)
    tip = await integrity.check_target(session.repo, state)  # renamed or deleted: refused, naming the workflow
    handoff.check_present(session, state)  # a phase never runs without the inputs its prompt names
    pid, decided_on = os.getpid(), state.status
    keep_start = new_run and bool(_kept_landed(state, step))  # files.json still spans the landed tasks

    def begin(now: WorkflowState) -> None:
        if now.status is not decided_on:
            raise UsageProblem(f"workflow {now.id} became {now.status.value} meanwhile: {now.message}",
                               fix=f"`launcher workflow status {now.id}` says what it offers now",
                               error_key=f"workflow_{now.status.value}")
        now.status, now.message, now.paused_on = WorkflowStatus.RUNNING, "", None
        now.runner_pid, now.runner_started = pid, process_identity.start_time(pid)
        for phase in step:
            row = now.phase(phase.id)
            row.status, row.error = PhaseStatus.RUNNING, None
            row.started_at = row.started_at or time.time()
            if keep_start:  # the landed tasks not run again: their reports stay those of this run
                for task in row.tasks:
                    if task.get("merged"):
                        task.setdefault("run", row.run_id)
            if new_run:
                row.run_id = None
            if row.start_sha is None or (run_id is None and not keep_start):
                row.start_sha = tip

    return session.update(state.id, begin)


async def run_step(session: WorkflowSession, state: WorkflowState, step: list[Phase], emit: EventSink,
                   *, retry_failed: bool = False) -> WorkflowState:
    """The step's run, once `begin_step` recorded us as its runner."""
    repo = session.repo
    run_id = state.phase(step[0].id).run_id
    sink = _recording(session, state, step, emit)
    journal_run = session.store_run_status(run_id) if run_id else None
    if run_id is None:
        try:
            plan = await handed_plan(session, state, step)
            if landed := _kept_landed(state, step):
                plan = plan.model_copy(update={"tasks": [
                    t.model_copy(update={"depends_on": [d for d in t.depends_on if d not in landed]})
                    for t in plan.tasks if t.id not in landed]})
            report = await start_run(repo.root, plan, RunOptions(into=state.target, base=state.target), sink)
        except LauncherError as exc:
            if state.phase(step[0].id).run_id is not None:
                raise  # the run exists: `resume` continues it
            return failed_to_start(session, state, step, exc.message)  # refused before its run began
    elif journal_run in (RunStatus.RUNNING, RunStatus.INTERRUPTED) or retry_failed:
        report = await resume_run(repo.root, run_id, sink, retry_failed=retry_failed)
    else:  # the run had finished; the crash came while its results were being written
        report = build_report(session.journal(), run_id, repo.root)
    return await finish_step(session, state, step, report)


def choices(wid: str) -> str:
    return (f"retry (`launcher workflow resume {wid} --retry-failed`), skip (`launcher workflow next {wid} "
            f"--skip`) or cancel (`launcher workflow cancel {wid}`)")


def failed_to_start(session: WorkflowSession, state: WorkflowState, step: list[Phase], error: str) -> WorkflowState:
    """The step's run could not begin (an agent missing, a check the run refused): its phases
    failed with that reason, kept in their state, their error.json and the workflow's message."""
    names = "+".join(p.id for p in step)
    reason = f"its run could not start: {error}"
    written = {p.id: artifacts.write_error(session.folder(state.id), p, None, reason) for p in step}

    def failed(now: WorkflowState) -> None:
        for phase in step:
            row = now.phase(phase.id)
            row.status, row.error, row.finished_at = PhaseStatus.FAILED, reason, time.time()
            row.artifacts = [written[phase.id]]
        now.runner_pid = None
        if now.pause_on_failure:
            now.status, now.paused_on = WorkflowStatus.PAUSED, step[0].id
            now.message = f"phase {names} failed to start: {error}\nfix the cause, then {choices(now.id)}"
        else:
            now.status, now.message = WorkflowStatus.FAILED, f"phase {names} failed to start: {error}"
        _apply_requested_pause(now)

    return session.update(state.id, failed)


def with_kept_landed(session: WorkflowSession, state: WorkflowState, step: list[Phase],
                      report: RunReport) -> RunReport:
    """The step's report with the tasks a partial retry did not run again (they had landed in an
    earlier run of the step: `_kept_landed`), as that run reported them: the phase's rows,
    files.json and documents cover every task of the phase."""
    have = {t.id for t in report.tasks}
    runs: dict[str, set[str]] = {}
    for phase in step:
        for task in state.phase(phase.id).tasks:
            if task.get("merged") and task.get("run") and task["id"] not in have:
                runs.setdefault(str(task["run"]), set()).add(str(task["id"]))
    kept = []
    for run_id, ids in runs.items():
        try:
            earlier = build_report(session.journal(), run_id, session.repo.root)
        except LauncherError:
            continue
        kept += [t for t in earlier.tasks if t.id in ids]
    return report.model_copy(update={"tasks": kept + list(report.tasks)}) if kept else report


def task_rows(report: RunReport, phase: Phase) -> list[dict[str, Any]]:
    """The phase's own tasks of its step's run, as the workflow's state lists them."""
    ids = phase.task_ids()
    return [{"id": t.id, "role": t.role, "agent": t.agent, "state": t.state, "merged": t.merged}
            for t in report.tasks if t.id in ids]


def kept_task_rows(journal: Journal, report: RunReport, phase: Phase, earlier: list[dict[str, Any]],
                   fresh: set[str]) -> list[dict[str, Any]]:
    """`task_rows` of a report `with_kept_landed`, each landed task with its `commit` on the
    target (what the lost-work check looks for): a landed task a partial retry did not run (not in
    `fresh`, the retry run's own tasks) keeps the run that has its report, and its commit."""
    before = {t["id"]: t for t in earlier}
    rows = task_rows(report, phase)
    for task in rows:
        if task["id"] not in fresh:
            task.update({k: before[task["id"]][k] for k in ("run", "commit") if before.get(task["id"], {}).get(k)})
        elif task["merged"]:
            with contextlib.suppress(LauncherError):  # a run or row gone: judged by the phase's tip
                if commit := journal.task(report.run_id, task["id"]).merge_commit:
                    task["commit"] = commit
    return rows


def phase_notes(report: RunReport, phase: Phase) -> list[str]:
    """The run's notes (work set aside, refs put back, changes nobody could be blamed for) on the
    phase's own tasks, or on no task: `workflow status` shows them as `launcher status RUN` does."""
    ids = phase.task_ids()
    return [(f"{n.task}: " if n.task else "") + n.message for n in report.notes if n.task is None or n.task in ids]


_NOT_FAILED = ("merged", "skipped", "approved")


def _landed_beside_a_failure(report: RunReport, step: list[Phase]) -> set[str]:
    """In a failed run of phases run side by side (`parallel_with`), the phases whose own tasks
    all landed on the target while another phase's task failed: those succeeded (their work is
    on the target); only the others failed. When no phase's own task failed (the run failed as a
    whole), none is set apart."""
    own = {p.id: task_rows(report, p) for p in step}
    if not any(t["state"] not in _NOT_FAILED for tasks in own.values() for t in tasks):
        return set()
    return {pid for pid, tasks in own.items()
            if any(t["merged"] for t in tasks) and all(t["merged"] or t["state"] == "skipped" for t in tasks)}


def _blamed(step: list[Phase], rows: dict[str, PhaseState]) -> str | None:
    """The failed phase the workflow pauses on: one whose own task failed, else the first failed."""
    failed = [p.id for p in step if rows[p.id].status is PhaseStatus.FAILED]
    own_failure = [pid for pid in failed if any(t["state"] not in _NOT_FAILED for t in rows[pid].tasks)]
    chosen = own_failure or failed
    return chosen[0] if chosen else None


def produced_nothing(tasks: list[dict[str, Any]]) -> bool:
    """Every task of the phase (its rows, `task_rows`) finished without a change, and none of them
    landed anything. Its own tasks decide, never the target's tip (another run, or the user,
    landing on the target meanwhile is not this phase's work: its run notes "not made by an agent
    of this run") nor its run's status (a run all of whose tasks were skipped succeeded: it had
    nothing to land). The one test of "this phase landed nothing" in a succeeded run: finishing
    a step and cancelling a workflow both ask it."""
    return bool(tasks) and all(t["state"] == "skipped" and not t["merged"] for t in tasks)


async def finish_step(session: WorkflowSession, state: WorkflowState, step: list[Phase],
                      report: RunReport, *, landed_by_operator: bool = False) -> WorkflowState:
    """`landed_by_operator`: the run's result was parked and the operator has since merged it
    into the target (so the phase succeeded). The phases' rows are worked out first (artifacts,
    test runs: long), then written with the workflow's next status onto the state as it is now,
    so an operator's `pause` or `checkpoint` recorded meanwhile is kept and honoured."""
    repo, folder = session.repo, session.folder(state.id)
    landed = await repo.rev_parse(state.target)
    fresh = {t.id for t in report.tasks}
    report = with_kept_landed(session, state, step, report)
    lost = await integrity.lost_work(repo, state)  # earlier phases' work the target lost meanwhile
    parked_on = report.integration_branch if report.status == RunStatus.PARKED.value else None
    ok = report.status == RunStatus.SUCCEEDED.value or landed_by_operator
    command = test_command(state.params, session.config)
    nothing: list[str] = []
    rows = {p.id: state.phase(p.id).model_copy(deep=True) for p in step}
    landed_alone = set() if ok or parked_on else _landed_beside_a_failure(report, step)
    for phase in step:
        row = rows[phase.id]
        row.run_id = report.run_id
        row.tasks = kept_task_rows(session.journal(), report, phase, row.tasks, fresh)
        row.notes = install_notes.merged(phase_notes(report, phase), install_notes.kept(row.notes))
        if parked_on and not landed_by_operator:  # approved, on the integration branch, not the target
            for task in row.tasks:
                if task["state"] in ("merged", "approved"):
                    task["state"], task["merged"] = f"parked on {parked_on}", False
        row.landed_sha = landed
        rejected = integrity.rejections(report, phase) if ok else {}
        for task in row.tasks:
            if task["id"] in rejected:
                task.update(rejected[task["id"]])
        if ok and produced_nothing(row.tasks):
            nothing.append(phase.id)
            row.error = (f"run {report.run_id} produced nothing: every task finished without changing a file "
                         f"({', '.join(t['id'] for t in row.tasks)})")
            row.artifacts = [artifacts.write_error(folder, phase, report, row.error)]
            row.status = PhaseStatus.FAILED
        elif ok or phase.id in landed_alone:
            row.artifacts, put_back = await artifacts.write_phase_artifacts(
                repo, folder, phase, report, row.start_sha or landed, landed, command, session.scratch_root(state.id),
                session.journal(), state.id)
            row.notes = install_notes.merged(row.notes, install_notes.notes(put_back, artifacts.PUT_BACK_WHY))
            row.status, row.error = PhaseStatus.SUCCEEDED, None
            artifacts.clear_error(folder, phase)
            if rejected:  # its review documents are written (with the verdict), but it did not pass
                row.status, row.error = PhaseStatus.FAILED, integrity.rejection_error(report.run_id, rejected)
                row.artifacts.append(artifacts.write_error(folder, phase, report, row.error))
        else:
            failed = [f"{t['id']} {t['state']}" for t in row.tasks
                      if t["state"] not in _NOT_FAILED and not parked_on]
            row.error = f"run {report.run_id} {report.status}" + (f": {', '.join(failed)}" if failed else "") \
                + (f"; {report.message}" if report.message else "")
            row.artifacts = [artifacts.write_error(folder, phase, report, row.error)]
            row.status = PhaseStatus.FAILED
        row.finished_at = time.time()
    failed_phase = _blamed(step, rows)
    commit = await repo.rev_parse(parked_on) if parked_on and failed_phase and not landed_by_operator else None

    def finish(now: WorkflowState) -> bool:
        if now.status.is_final:  # cancelled meanwhile: the cancel said how the run ended
            return False
        now.phases = [rows.get(row.id, row) for row in now.phases]
        now.runner_pid, now.paused_on = None, None
        now.options.pop("parked", None)
        _decide(session, now, step, report, failed_phase, nothing, parked_on, commit)
        if lost and now.status is WorkflowStatus.COMPLETED:  # not "completed" without that work
            integrity.pause_for_lost(now, lost)
        _settle_checkpoints(now, step)
        _apply_requested_pause(now)
        return True

    return session.update(state.id, finish)


def _decide(session: WorkflowSession, state: WorkflowState, step: list[Phase], report: RunReport,
            failed_phase: str | None, nothing: list[str], parked_on: str | None, commit: str | None) -> None:
    """The workflow's status and message once its step finished."""
    wid = state.id
    if parked_on and failed_phase and commit:
        state.options["parked"] = {"phase": failed_phase, "run_id": report.run_id, "branch": parked_on,
                                   "commit": commit}
        state.status, state.paused_on = WorkflowStatus.PAUSED, failed_phase
        state.message = (f"phase {failed_phase}'s work is parked on {parked_on} ({commit[:12]}), not on "
                         f"{state.target}: {report.message} When {state.target} holds it (commit or stash the "
                         f"local changes, then `git merge --ff-only {parked_on}` on {state.target}), "
                         f"`launcher workflow resume {wid}` records the phase and goes on; or skip "
                         f"(`launcher workflow next {wid} --skip`) or cancel (`launcher workflow cancel {wid}`)")
    elif failed_phase:
        error = state.phase(failed_phase).error or ""
        what = (f"phase {failed_phase} produced nothing (every agent finished without a change)"
                if failed_phase in nothing else f"phase {failed_phase} failed"
                + (f": {error}" if error.startswith(integrity.REJECTED) else ""))
        if state.pause_on_failure:
            state.status, state.paused_on = WorkflowStatus.PAUSED, failed_phase
            state.message = f"{what}; {choices(wid)}"
        else:
            state.status, state.message = WorkflowStatus.FAILED, what
    else:
        state.status = after_success(session, state, step)


def _apply_requested_pause(state: WorkflowState) -> None:
    """An operator's `pause` asked for while the phase ran takes effect now that it ended."""
    if not state.pause_requested:
        return
    if state.status in (WorkflowStatus.READY, WorkflowStatus.WAITING_CHECKPOINT):
        state.resume_to, state.status = state.status, WorkflowStatus.PAUSED
        state.message = (f"paused by the operator after the phase finished ({state.message}); "
                         f"`launcher workflow resume {state.id}` continues")
    state.pause_requested = False  # a failed phase paused (or ended) the workflow anyway


def record_checkpoint_while_running(session: WorkflowSession, state: WorkflowState, running: list[str],
                                    signal_ref: str) -> None:
    """A checkpoint given while its phase runs is kept for it (`pending`): once the phase succeeds
    the workflow goes on without waiting for another (phase_run.after_success)."""
    gated = [p.id for p in session.template_of(state).phases if p.checkpoint and p.id in running]
    phase = (gated or running)[0]
    state.checkpoints.append({"phase": phase, "signal": signal_ref, "at": time.time(), "pending": True})
    if gated:
        state.message = (f"checkpoint {signal_ref!r} recorded for phase {phase}, which is running: when it "
                         "succeeds the workflow does not wait for another")
    else:
        state.message = (f"checkpoint {signal_ref!r} recorded (phase {', '.join(running)} is running and "
                         "has no checkpoint: nothing waits for it)")


def _settle_checkpoints(state: WorkflowState, step: list[Phase]) -> None:
    """The checkpoints given while the step ran were honoured (after_success) or, the step having
    failed, are not carried over to a retry: its new work is not what the operator approved."""
    ids = {p.id for p in step}
    for entry in state.checkpoints:
        if entry.get("pending") and entry.get("phase") in ids:
            entry["pending"] = False


def after_success(session: WorkflowSession, state: WorkflowState, step: list[Phase]) -> WorkflowStatus:
    if not next_step(session, state):
        state.message = integrity.completion_message(state)
        return WorkflowStatus.COMPLETED
    # the whole step: a phase of it that succeeded before the others were retried counts too
    whole = next((group for group in session.template_of(state).steps()
                  if {p.id for p in step} <= {p.id for p in group}), step)
    if any(p.checkpoint for p in whole):
        gated = [p.id for p in whole if p.checkpoint]
        names = ", ".join(gated)
        given = [c for c in state.checkpoints if c.get("pending") and c.get("phase") in gated]
        if given:
            state.message = (f"phase {names} finished; checkpoint {given[-1]['signal']!r}, given while it ran, "
                             "releases the next phase (`launcher workflow next`)")
            return WorkflowStatus.READY
        state.message = (f"phase {names} waits for the operator: `launcher workflow checkpoint {state.id} "
                         "--signal REF` releases the next phase")
        return WorkflowStatus.WAITING_CHECKPOINT
    state.message = "ready for the next phase (`launcher workflow next`)"
    return WorkflowStatus.READY


def step_tasks(session: WorkflowSession, state: WorkflowState, step: list[Phase]) -> list[tuple[str, str, str]]:
    """(task, role, agent) of a step, for the live view."""
    plan = step_plan(step, state.params, session.config, [], state.options.get("scripts", {}), state.target)
    return [(t.id, t.role, t.agent) for t in plan.tasks]

