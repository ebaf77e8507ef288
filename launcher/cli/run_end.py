"""How a command that drives a run ends (`run`, `resume`, `land`, `choose`, `grade`, `demo`): the run
it continues (`run_of`, resolved once, before its first event), its view (`view`), a usage
problem said before any work (`fail_usage`), and its end (`finish`): the shard export written
as the run ended, the report (`--json`) or the summary, the GitHub step summary, and the exit
code the run's status gives (`exit_code`, also `status --exit-status`'s)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
from rich.markup import escape

from launcher.app import inspect as inspect_app
from launcher.app.run import export as export_app
from launcher.cli.calls import OutConsole, call, err_console, print_envelope, print_error
from launcher.cli.entry import flush_or_drop_stdout
from launcher.cli.run_view import RecordingView
from launcher.errors import ExitCode, UsageProblem
from launcher.models.printable import printable
from launcher.models.report import NoteReport, RunReport
from launcher.models.states import RunStatus
from launcher.ui.summary import append_github_summary, render_summary, report_json
from launcher.ui.view import make_view


def exit_code(report: RunReport) -> int:
    """The exit code a run's status gives (README, "Task states and exit codes")."""
    if report.status == RunStatus.SUCCEEDED:
        return int(ExitCode.OK)
    if report.status == RunStatus.INTERRUPTED:  # by a signal (130), else as its command exited
        return report.error_exit_code or int(ExitCode.INTERRUPTED)
    if report.status == RunStatus.PARKED:
        return int(ExitCode.PARKED)
    if report.status == RunStatus.RUNNING:  # no outcome yet: never 0, which says it all landed
        return int(ExitCode.NOT_FINISHED)
    return int(ExitCode.FAILED)


def export_as_it_ended(report: RunReport, json_mode: bool) -> None:
    """A shard run (`run --shard I/N --no-merge --export DIR`): its export written, or written
    again, to say what the run ended with. Every command that ends driving a run comes here (`run`,
    `resume`, `land`, `choose`, `grade`): a choice that approved an escalated task, a re-grade
    that approved a new head, a land, a retry... never leave DIR stale for `land --from`."""
    exported, problem = call(lambda: export_app.export_as_ended(Path.cwd(), report.run_id), json_mode=json_mode)
    if problem is not None:  # the command's work is done: said beside its report, its exit code the run's
        report.notes.append(NoteReport(at=time.time(), message=problem))
        err_console.print(f"[bold yellow]warning:[/] {escape(printable(problem))}", highlight=False)
    if exported is not None:
        err_console.print(f"exported {len(exported[1]['tasks'])} approved task(s) to {escape(str(exported[0]))}",
                          highlight=False)


def finish(report: RunReport, *, json_mode: bool, quiet: bool) -> None:
    """End the command with the run: its export, its report or summary, the run's exit code."""
    export_as_it_ended(report, json_mode)
    try:
        if json_mode:
            print(report_json(report), flush=True)
        else:
            OutConsole().print(render_summary(report), soft_wrap=True)
    except BrokenPipeError:  # `| head -1` has read what it wanted: the exit code stays the run's
        flush_or_drop_stdout()
    append_github_summary(report, os.environ)
    raise typer.Exit(exit_code(report))


def view(json_mode: bool, quiet: bool) -> RecordingView:
    return RecordingView(make_view(json_mode=json_mode, quiet=quiet))


def run_of(run_id: str | None) -> tuple[str | None, list[tuple[str, str, str]]]:
    """The run a command that continues it drives (`run_id`, else the latest: resolved once, here,
    so a Ctrl-C before its first event still names it and prints its report) and its tasks (id,
    role, agent) for the live table."""
    return call(lambda: inspect_app.task_rows(Path.cwd(), run_id))


def fail_usage(what: str, example: str, json_mode: bool) -> None:
    exc = UsageProblem(what, fix=f"for example: {example}")
    if json_mode:
        print_envelope(exc)
    print_error(exc.message)
    raise typer.Exit(int(ExitCode.USAGE))
