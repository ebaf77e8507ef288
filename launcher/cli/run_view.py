"""A run's view as the commands that drive a run use it (run, resume, land, choose, grade, demo):
the run it shows is remembered, so a Ctrl-C still ends with that run's report on stdout under
`--json` (status `interrupted`), as the plain and live views end with their line."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from launcher.app import inspect as inspect_app
from launcher.cli import calls, stop_signals
from launcher.cli.calls import call
from launcher.errors import LauncherError
from launcher.models.events import Event
from launcher.models.report import RunReport
from launcher.ui.summary import report_json
from launcher.ui.view import RunView

T = TypeVar("T")


class RecordingView:
    """A RunView that remembers the id of the run its events are about."""

    def __init__(self, view: RunView) -> None:
        self.view = view
        self.run_id: str | None = None

    def start(self, run_id: str, tasks: list[tuple[str, str, str]]) -> None:
        self.run_id = run_id or self.run_id
        self.view.start(run_id, tasks)

    def handle(self, event: Event) -> None:
        self.run_id = event.run_id or self.run_id
        self.view.handle(event)

    def stop(self) -> None:
        self.view.stop()

    def abandon(self) -> None:
        """Stop showing the run because the command is being stopped: a view whose output is
        stuck (a reader that does not read) must not hold the stop up."""
        abandon_view(self.view)


def abandon_view(view: RunView) -> None:
    """`view.abandon()` where the view has one (plain lines: what its reader has not taken soon is
    dropped), else `view.stop()`."""
    abandon = getattr(view, "abandon", None)
    if callable(abandon):
        abandon()
    else:
        view.stop()


def run_with_view(view: RecordingView, tasks: list[tuple[str, str, str]], body: Callable[[], Awaitable[T]],
                  json_mode: bool, run_id: str | None = None, *,
                  continues: str | Callable[[str], str] | None = "launcher resume", repo: Path | None = None,
                  said: Callable[[str | None], str] | None = None) -> T:
    """`body` under `call`, its events shown by `view`. On Ctrl-C the live table stops first, so
    the "state saved" line is seen below it; with `--json` the run's report is printed too (the
    run is looked up in `repo`, default: here). The line names `continues RUN` (the run stopped,
    so not whichever run is the latest), or `continues(RUN)` when it is a function; before a run
    was recorded, or with `continues=None`, the
    command again. `said`, given the run stopped (or None), writes the line instead."""
    view.start("", tasks)

    def interrupted() -> str | None:
        view.abandon()
        stopped = view.run_id or run_id
        if json_mode:
            print_interrupted_report(stopped, repo)
        if said is not None:
            return said(stopped)
        if continues is None or stopped is None:
            return None  # call's own line: the command again
        if callable(continues):  # the command depends on where the run stopped
            return f"interrupted: state saved; `{continues(stopped)}` continues"
        return f"interrupted: state saved; `{continues} {stopped}` continues"

    try:
        result = call(body, json_mode=json_mode, on_interrupt=interrupted)
    finally:
        view.stop()
    ended = view.run_id or run_id or (result.run_id if isinstance(result, RunReport) else None)
    if ended is not None:
        calls.after_run = lambda: _after_run_interrupted(ended, json_mode, repo)
    return result


def _after_run_interrupted(run_id: str, json_mode: bool, repo: Path | None) -> str:
    """Ctrl-C once the run has ended, while the command writes what follows from it (a shard
    run's export, app/run/export.py): the run is journaled `interrupted` and resuming it finishes
    that work; a new `launcher run` would run every agent again."""
    if json_mode:
        print_interrupted_report(run_id, repo)
    return f"interrupted: state saved; `launcher resume {run_id}` continues (and writes the run's export)"


def print_interrupted_report(run_id: str | None, repo: Path | None = None) -> None:
    """The journal's report of the run stopped (its status `interrupted`), on stdout; when it
    cannot be read, an envelope naming the run; before the run existed, one saying nothing was
    started."""
    report = None
    if run_id is not None:
        try:
            report = stop_signals.run(lambda: inspect_app.run_report(repo or Path.cwd(), run_id))
        except (LauncherError, KeyboardInterrupt, OSError):
            report = None
    if report is not None:
        print(report_json(report), flush=True)
        return
    if run_id is not None:  # recorded, but its report could not be read (a second Ctrl-C, say)
        print(json.dumps({"ok": False, "error_key": "interrupted", "run_id": run_id,
                          "observations": f"run {run_id} was interrupted; its report could not be read now",
                          "usage": f"`launcher status {run_id}` shows it"},
                         separators=(",", ":")), flush=True)
        return
    print(json.dumps({"ok": False, "error_key": "interrupted",
                      "observations": "interrupted before a run was recorded: nothing to report",
                      "usage": "start it again"}, separators=(",", ":")), flush=True)
