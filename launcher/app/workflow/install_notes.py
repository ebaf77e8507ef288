"""What a workflow did to the user's environments, told where the user looks.

A phase's test or coverage command may install the project from its scratch tree into the
user's venv; the launcher puts back what was there (`engine/site_installs.py`), or, when it
cannot know what was there, removes the install and says to reinstall. Those lines are the
phase's notes (shown by `workflow status` and the output of `next`, `resume`, `cancel`) and
events, besides results.json / coverage.json: an instruction to the user kept only in an
artifact for the next phase's agents would go unseen. Each note starts with `MARK`, so a row's
notes rewritten from its run's report (a phase finishing, a cancel) keep them.
"""

from __future__ import annotations

from collections.abc import Iterable

from launcher.app.context import EventSink
from launcher.models.events import Event
from launcher.models.workflow import PhaseState, PhaseStatus, WorkflowState

MARK = "your environment: "
LEFT_WHY = "a test command of the phase, whose runner died, had installed the project there from its scratch tree"


def notes(lines: Iterable[str], why: str) -> list[str]:
    """The put-back lines as phase notes (`why`: what installed the project there)."""
    return [f"{MARK}{line} ({why})" for line in lines]


def kept(earlier: Iterable[str]) -> list[str]:
    """The install notes among a row's earlier notes: kept when its notes are rewritten."""
    return [n for n in earlier if n.startswith(MARK)]


def merged(*parts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(n for part in parts for n in part))


def rows_concerned(state: WorkflowState) -> list[PhaseState]:
    """The phases whose test command a dead runner was running: the running ones, else the one
    the workflow is paused on, else the last one that ran."""
    running = [row for row in state.phases if row.status is PhaseStatus.RUNNING]
    if running:
        return running
    paused = [row for row in state.phases if row.id == state.paused_on]
    if paused:
        return paused
    ran = [row for row in state.phases if row.run_id]
    return ran[-1:]


def add(state: WorkflowState, said: list[str]) -> None:
    """Add `said` (`notes`) to the notes of the phases concerned (on the state as it is now)."""
    for row in rows_concerned(state):
        row.notes = merged(row.notes, said)


def emit_all(emit: EventSink, state: WorkflowState, said: list[str]) -> None:
    rows = rows_concerned(state)
    run_id = str(rows[0].run_id) if rows and rows[0].run_id else state.id
    for line in said:
        emit(Event(run_id, None, "note", None, line))
