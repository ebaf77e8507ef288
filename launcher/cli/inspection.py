"""Looking into runs after the fact: `launcher runs`, `launcher diff`, `launcher path`, and when
`launcher logs --follow` may stop (`launcher logs` itself: cli/logs_cmd.py)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from launcher.app import inspect as inspect_app
from launcher.cli.calls import call, print_envelope, print_error
from launcher.errors import ExitCode, UsageProblem
from launcher.invocation import as_invoked
from launcher.models.states import RunStatus, TaskState

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable list on stdout.")]


def runs(
    json_mode: JsonOpt = False,
    limit: Annotated[int, typer.Option(min=1, help="How many of the latest runs.")] = 20,
) -> None:
    """List the latest runs, newest first: id, status, tasks, target."""
    if json_mode:
        reports = call(lambda: inspect_app.list_runs(Path.cwd(), limit), json_mode=json_mode)
        print(json.dumps([r.model_dump(mode="json") for r in reports], indent=2))
        raise typer.Exit(0)
    lines = call(lambda: inspect_app.run_lines(Path.cwd(), limit))
    if not lines:
        print(as_invoked("no runs yet: start one with `launcher run PLAN`"))
    for r in lines:
        print(f"{r.run_id}  {r.status:<11}  {r.tasks} task(s)  -> {r.target}")


def status_all(run_id: str | None, exit_status: bool, json_mode: bool) -> None:
    """`launcher status --all`: the runs list, exit 0. A RUN or --exit-status beside it is refused
    (exit 2): the list would drop them, and exit 0 for a failed or unknown run."""
    if run_id or exit_status:
        given = ", ".join(w for w, on in ((run_id or "", bool(run_id)), ("--exit-status", exit_status)) if on)
        exc = UsageProblem("`status --all` lists the recent runs: it takes neither a run id nor --exit-status "
                           f"(given: {given})",
                           fix="`launcher status RUN --exit-status` for one run's code, "
                               "or `launcher status --all` for the list", error_key="usage:status_all")
        if json_mode:
            print_envelope(exc)
        print_error(exc.message)
        raise typer.Exit(int(ExitCode.USAGE))
    runs(json_mode=json_mode)
    raise typer.Exit(0)


def diff(
    run_id: Annotated[str, typer.Argument()],
    task_id: Annotated[str, typer.Argument()],
) -> None:
    """Print what a task changed (its branch against where it started), as a patch."""
    sys.stdout.flush()
    call(lambda: inspect_app.write_task_diff(Path.cwd(), run_id, task_id, sys.stdout.buffer))
    sys.stdout.buffer.flush()


def path(
    run_id: Annotated[str, typer.Argument()],
    task_id: Annotated[str, typer.Argument()],
) -> None:
    """Print a task's worktree, to open it: cd "$(launcher path RUN TASK)"."""
    print(call(lambda: inspect_app.task_worktree(Path.cwd(), run_id, task_id)))


def register(app: typer.Typer) -> None:
    app.command()(runs)
    app.command()(diff)
    app.command()(path)


def task_final(run_id: str, task_id: str) -> bool:
    """Whether `logs --follow` may stop: the task ended, waits for the operator, or no launcher
    writes its log any more."""
    from launcher.store.journal import Journal

    root = Path.cwd()
    for candidate in (root, *root.parents):
        db = candidate / ".launcher" / "launcher.db"
        if db.exists():
            journal = Journal(db)
            state = journal.task(run_id, task_id).state
            # Escalated waits for `launcher choose`; a run no launcher drives writes no more log.
            waiting = state in (TaskState.APPROVED, TaskState.ESCALATED)
            run = journal.run(run_id)
            mine = run.status is RunStatus.RUNNING and run.launcher_pid == os.getpid()
            return state.is_final or waiting or not (run.driven_elsewhere or mine)
    return True
