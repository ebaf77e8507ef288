"""The `launcher` command: each command parses, calls one app function, prints, exits."""

from __future__ import annotations

import atexit
import enum
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from launcher import __version__, process
from launcher.app import agents_info
from launcher.app import clean as clean_app
from launcher.app import demo as demo_app
from launcher.app import inspect as inspect_app
from launcher.app.land import from_export as land_from_app
from launcher.app.land import later as land_app
from launcher.app.run import choose as choose_app
from launcher.app.run import export as export_app
from launcher.app.run import lessons as lessons_app
from launcher.app.run import plans as plans_app
from launcher.app.run.runner import RunOptions, resume_run, start_run
from launcher.app.run.shard import sharded
from launcher.cli import calls, help_format, init_cmd, inspection, logs_cmd, out_streams, run_end, stop_signals
from launcher.cli.calls import OutConsole, call, report_internal_error
from launcher.cli.demo_stopped import stopped_line
from launcher.cli.lazy_commands import LazyCommands
from launcher.cli.pool import pool_app_cli
from launcher.cli.run_view import run_with_view
from launcher.errors import ExitCode, LauncherError
from launcher.gates.verdict import envelope_line, grade_record_from
from launcher.invocation import launcher_program
from launcher.models.printable import printable
from launcher.models.states import RunStatus
from launcher.store import own_files
from launcher.ui.summary import render_summary, report_json

app = typer.Typer(
    cls=LazyCommands,  # `mutation` and `workflow` load only when invoked
    add_completion=False,
    no_args_is_help=True,
    help="Run many coding agents in parallel on one git repository, safely.",
    context_settings=help_format.CONTEXT_SETTINGS,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"launcher {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main_options(
    version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_print_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Run many coding agents in parallel on one git repository, safely."""
    own_files.record_own_outputs()  # `> out.json` in a checkout another run watches is ours

class OnCap(enum.StrEnum):
    approve = "approve"
    tech_debt = "tech-debt"
    defer = "defer"


class Choice(enum.StrEnum):
    approve = "approve"
    continue_ = "continue"
    tech_debt = "tech-debt"
    defer = "defer"


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable report on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Plain lines, no live table.")]


_run_with_view = run_with_view


@app.command()
def run(
    plan_file: Annotated[Path | None, typer.Argument(help="Plan file (.toml, .yaml, .json).")] = None,
    task: Annotated[list[str] | None, typer.Option("--task", help="A task prompt (repeatable).")] = None,
    agent: Annotated[str | None, typer.Option(
        help="Agent for --task tasks (default: default_agent of launcher.toml).")] = None,
    max_parallel: Annotated[int | None, typer.Option(min=1, max=256)] = None,
    budget_usd: Annotated[float | None, typer.Option(min=0, help="Run-wide spend cap (USD).")] = None,
    no_merge: Annotated[bool, typer.Option("--no-merge", help="Leave approved branches unmerged.")] = False,
    into: Annotated[str | None, typer.Option(help="Branch approved work lands on.")] = None,
    base: Annotated[str | None, typer.Option(help="Commit the worktrees start from.")] = None,
    on_cap: Annotated[OnCap | None, typer.Option(help="Decide escalations at the cap unattended.")] = None,
    shard: Annotated[str | None, typer.Option(
        help="Run only this CI job's share I/N of the plan (tasks linked by depends_on stay together).")] = None,
    export: Annotated[Path | None, typer.Option(
        help="With --no-merge: write the approved branches (bundle + manifest) here for `land --from`.")] = None,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a plan: one worktree and agent per task, then land approved branches."""
    if export is not None and not no_merge:
        run_end.fail_usage("--export needs --no-merge (a final job lands the exports)",
                    "launcher run plan.toml --shard 1/4 --no-merge --export out/", json_mode)
    if export is not None and (export / export_app.MANIFEST).exists():  # before any work, not after
        run_end.fail_usage(f"{export} already holds an export", "--export an empty directory per shard", json_mode)
    if plan_file is None and not task:
        run_end.fail_usage("give a plan file or at least one --task", "launcher run plan.toml", json_mode)
    if plan_file is not None and task:
        run_end.fail_usage("give a plan file or --task, not both", "launcher run plan.toml", json_mode)
    plan = call(lambda: plans_app.plan_for_run(Path.cwd(), plan_file, task or [], agent), json_mode=json_mode)
    if on_cap is not None:
        plan.run.on_cap = on_cap.value
    full_plan = plan
    if shard is not None:
        plan = call(lambda: sharded(plan, shard), json_mode=json_mode)
    view = run_end.view(json_mode, quiet)
    options = RunOptions(max_parallel=max_parallel, budget_usd=budget_usd, merge=not no_merge,
                         into=into, base=base,
                         export=None if export is None else export_app.export_request(
                             export, shard or "1/1", full_plan))
    tasks = [(t.id, t.role, t.agent) for t in plan.tasks]
    report = _run_with_view(view, tasks, lambda: start_run(Path.cwd(), plan, options, view.handle), json_mode)
    run_end.finish(report, json_mode=json_mode, quiet=quiet)  # writes the export the run recorded it asks for


@app.command()
def resume(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the latest).")] = None,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="Also run the failed tasks again from scratch (and what they held up).")] = False,
    budget_usd: Annotated[float | None, typer.Option(min=0, help="The run's spend cap from now on (USD).")] = None,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Continue an interrupted run: done stays done, dead agents re-run, nothing lands twice."""
    view = run_end.view(json_mode, quiet)
    run_id, tasks = run_end.run_of(run_id)
    report = _run_with_view(
        view, tasks,
        lambda: resume_run(Path.cwd(), run_id, view.handle, retry_failed=retry_failed,
                           budget_usd=budget_usd), json_mode, run_id)
    run_end.finish(report, json_mode=json_mode, quiet=quiet)


@app.command()
def land(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the latest).")] = None,
    from_dirs: Annotated[list[Path] | None, typer.Option(
        "--from", help="An export of `run --shard I/N --no-merge --export DIR` (repeatable).")] = None,
    plan_file: Annotated[Path | None, typer.Option(
        "--plan", help="With --from: the plan file the shard jobs ran; exports whose plan differs are "
                       "refused (without it, an export's plan digest only detects damage).")] = None,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Land a run's approved tasks now (e.g. after --no-merge), through the same guard as a run."""
    view = run_end.view(json_mode, quiet)
    if plan_file is not None and not from_dirs:
        run_end.fail_usage("--plan goes with --from (the plan the exports' shard jobs ran)",
                    "launcher land --from out-1 --from out-2 --plan plan.toml", json_mode)
    if from_dirs:
        if run_id:
            run_end.fail_usage("give a run id or --from, not both", "launcher land --from out-1 --from out-2",
                               json_mode)
        report = _run_with_view(view, [], lambda: land_from_app.land_from(Path.cwd(), from_dirs, view.handle,
                                                                          plan_file),
                                json_mode, continues=_land_continues)
        run_end.finish(report, json_mode=json_mode, quiet=quiet)
        return
    run_id, tasks = run_end.run_of(run_id)
    report = _run_with_view(view, tasks, lambda: land_app.land_run(Path.cwd(), run_id, view.handle),
                            json_mode, run_id, continues=_land_continues)
    run_end.finish(report, json_mode=json_mode, quiet=quiet)


def _land_continues(run_id: str) -> str:
    """`launcher land RUN`, or `launcher resume RUN` when a task's round was cut short."""
    try:
        return stop_signals.run(lambda: land_app.continuation(Path.cwd(), run_id))
    except (LauncherError, KeyboardInterrupt, OSError):
        return f"launcher resume {run_id}"  # finishes a land whatever it stopped in


@app.command()
def status(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the latest).")] = None,
    json_mode: JsonOpt = False,
    all_runs: Annotated[bool, typer.Option("--all", help="List recent runs (as `launcher runs`).")] = False,
    exit_status: Annotated[bool, typer.Option(
        "--exit-status", help="Exit with the run's code (0 succeeded, 1 failed, 4 parked, 130 interrupted, or the "
                              "code of the error that stopped it; 75 still running: ask again later).")] = False,
) -> None:
    """Show a run's tasks and states (journal and git only); exit 0, or the run's code with --exit-status."""
    if all_runs:  # the runs list, exit 0; RUN or --exit-status beside it: exit 2
        inspection.status_all(run_id, exit_status, json_mode)
    report = call(lambda: inspect_app.run_report(Path.cwd(), run_id), json_mode=json_mode)
    if json_mode:
        print(report_json(report))
    else:
        OutConsole().print(render_summary(report), soft_wrap=True)
    raise typer.Exit(run_end.exit_code(report) if exit_status else 0)


app.command()(logs_cmd.logs)  # cli/logs_cmd.py


@app.command()
def clean(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the latest).")] = None,
    all_runs: Annotated[bool, typer.Option("--all", help="All runs' leftovers and dead sweeps' trees.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Also delete branches and refs holding commits that are not on the target.")] = False,
    older_than: Annotated[float | None, typer.Option(
        "--older-than", min=0, metavar="DAYS",
        help="Also remove the artifacts (.launcher/runs/RUN/: logs, contracts, round records) of settled runs "
             "untouched for DAYS days: every task landed or ended with no work kept, nothing left in git. "
             "Journal rows stay.")] = None,
) -> None:
    """Remove the worktrees a run kept, and its branches and refs whose commits are all on the
    target; one holding other commits (approved work, a failed or conflicted task's commits, an
    integration branch) is kept unless --force."""
    removed = call(lambda: clean_app.clean(Path.cwd(), run_id, all_runs=all_runs, force=force,
                                           older_than=older_than))
    for line in removed:
        print(printable(line))  # it names files an agent left: each one line
    kept = sum(line.startswith(("kept ", "skipped ")) for line in removed)
    done = sum(line.startswith(("saved ", "killed ", "withdrawn ")) for line in removed)  # said, not removed
    print(f"cleaned: {len(removed) - kept - done} item(s)" + (f", kept {kept}" if kept else ""))


app.command()(init_cmd.init)  # cli/init_cmd.py


@app.command()
def demo(
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    where: Annotated[Path | None, typer.Option(
        help="Directory the sample repo is made in (calc-repo, or calc-repo-2... if taken).")] = None,
    workflow: Annotated[bool, typer.Option("--workflow", help="Run the feature-development workflow instead.")] = False,
    mutation: Annotated[bool, typer.Option("--mutation", help="Show the mutation loop: survivor, test, kill.")] = False,
) -> None:
    """Build a sample repo and run five scripted agents through the whole pipeline."""
    if workflow and mutation:
        run_end.fail_usage("give --workflow or --mutation, not both (they are two demos)", "launcher demo --workflow",
                    json_mode)
    kind = "mutation" if mutation else "workflow" if workflow else "run"
    root = call(lambda: demo_app.new_sample_dir(where, kind), json_mode=json_mode)  # named if stopped
    if mutation:
        from launcher.cli.mutation_loop import run_demo_mutation

        run_demo_mutation(root, temp=where is None, json_mode=json_mode)
    if workflow:
        from launcher.cli.workflow import run_demo_workflow

        run_demo_workflow(root, temp=where is None, json_mode=json_mode, quiet=quiet)
    view = run_end.view(json_mode, quiet)
    plan = demo_app.demo_plan()
    tasks = [(t.id, t.role, t.agent) for t in plan.tasks]
    report = _run_with_view(view, tasks, lambda: demo_app.run_demo(view.handle, root), json_mode, repo=root,
                            said=lambda run: stopped_line(root, temp=where is None, run_id=run,
                                                          started=run is not None))
    repo = root  # the sample repo is made in root itself
    if json_mode:
        print(report_json(report))
        raise typer.Exit(0 if report.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) else 1)
    console = OutConsole()
    console.print(render_summary(report), soft_wrap=True)
    me, at = launcher_program(), shlex.quote(str(repo))
    console.print(
        escape(f"\nSample repo: {repo}\n"
        f"  git -C {at} log --oneline --graph    # what landed\n"
        f"  cd {at} && {me} status             # the journal\n"
        f"  cd {at} && {me} logs {report.run_id} backend-mul\n"
        f"The conflicted and failed tasks are kept for inspection; `{me} clean --all` removes their "
        f"worktrees, `{me} clean --all --force` their branches too."),
        soft_wrap=True,  # commands and paths stay whole, to copy and paste
        highlight=False,
    )
    # The demo's failures are staged on purpose: it succeeds when the pipeline behaved.
    raise typer.Exit(0 if report.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) else 1)


@app.command("choose")
def choose_cmd(
    run_id: Annotated[str, typer.Argument()],
    task_id: Annotated[str, typer.Argument()],
    choice: Annotated[Choice, typer.Argument(help="approve | continue | tech-debt | defer")],
    note: Annotated[str, typer.Option("--note", help="Why (kept in the journal and ledgers).")] = "",
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Decide an escalated task: approve lands it, continue allows more rounds, tech-debt or defer."""
    view = run_end.view(json_mode, quiet)
    report = _run_with_view(
        view, run_end.run_of(run_id)[1], lambda: choose_app.choose(Path.cwd(), run_id, task_id, choice.value,
                                            note or "operator decision", view.handle), json_mode, run_id)
    run_end.finish(report, json_mode=json_mode, quiet=quiet)


@app.command()
def grade(
    run_id: Annotated[str, typer.Argument()],
    task_id: Annotated[str, typer.Argument()],
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Re-run grading by hand on a task's branch (e.g. after its approval was withdrawn); in a run
    without a grader, re-measure an approved task's branch and approve it again if its checks,
    claims and scope hold."""
    view = run_end.view(json_mode, quiet)
    report = _run_with_view(
        view, run_end.run_of(run_id)[1], lambda: choose_app.regrade(Path.cwd(), run_id, task_id, view.handle),
        json_mode, run_id)
    run_end.finish(report, json_mode=json_mode, quiet=quiet)


inspection.register(app)
app.add_typer(pool_app_cli, name="pool")


@app.command()
def mcp() -> None:
    """Serve the workflow actions as one MCP tool (`orchestrator`) over stdio."""
    from launcher.cli.mcp_server import serve  # the SDK loads only for this command
    from launcher.git.discovery_memo import discovery_kept

    with discovery_kept(keep=False):  # a server lives on: the repository may move meanwhile
        serve()

gate_app = typer.Typer(help="Standalone gates other orchestrators can call.", no_args_is_help=True)
app.add_typer(gate_app, name="gate")


@gate_app.command("grade-record")
def grade_record_cmd(
    file: Annotated[Path | None, typer.Option("--file", help="Verdict file (default: stdin).")] = None,
    task_id: Annotated[str | None, typer.Option("--task-id", help="Task the verdict is for (echoed).")] = None,
    criteria: Annotated[str | None, typer.Option(
        "--criteria", help="The applied rubrics' criterion ids, comma-separated (C1,C2,...): a verdict "
        "missing one (criterion_missing:<ID>) or answering another (criterion_unknown:<ID>) is invalid, "
        "as in a run.")] = None,
) -> None:
    """Validate a grader verdict: prints the envelope as one JSON line; exit 0 valid, 1 invalid, 2 usage."""
    code, envelope = grade_record_from(file, task_id=task_id, criteria=criteria)
    print(envelope_line(envelope))
    raise typer.Exit(code)


lessons_cli = typer.Typer(help="The repository's LESSONS.md.", no_args_is_help=True)
app.add_typer(lessons_cli, name="lessons")


@lessons_cli.command("add")
def lessons_add(text: Annotated[str, typer.Argument(help="The lesson, one line.")]) -> None:
    """Append a lesson (skipped when an equivalent one is already there)."""
    added, path = call(lambda: lessons_app.add_lesson_here(Path.cwd(), text))
    print(f"added to {path}" if added else f"already in {path}")


@app.command()
def agents(json_mode: JsonOpt = False) -> None:
    """List the adapters and agent CLIs found on PATH, with versions and install hints."""
    rows = call(lambda: agents_info.agents_here(Path.cwd()), json_mode=json_mode)
    if json_mode:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        raise typer.Exit(0)
    for r in rows:
        where = f" ({r.path})" if r.path else ""
        status = f"{r.version or 'available'}{where}" if r.found else f"missing: {r.install_hint or ''}"
        print(f"{r.name:<16} {r.adapter:<16} {status}{'  ' + r.note if r.note else ''}")


def main() -> None:
    atexit.register(process.kill_all_live_groups)
    stop_signals.install()
    try:
        try:
            app()
        except KeyboardInterrupt:  # outside an app call: while typer builds the commands, or prints
            out_streams.bound(1, calls.LAST_LINE_GRACE_S)  # the last flush: a stuck reader waits no more
            calls.say_last("launcher: interrupted again (or while printing its result); what the command "
                           "did is saved: `launcher status` shows a run's state\n" if calls.began else
                           "launcher: interrupted before the command began its work; nothing was done\n")
            sys.exit(ExitCode.INTERRUPTED)
        finally:
            sys.stdout.flush()  # what is still buffered fails here, not silently at exit
    except Exception as exc:  # outside an app call (printing, say): still exit 70, never a traceback
        # (an app function's errors are turned into their exit codes by `call`)
        sys.exit(report_internal_error(exc, json_mode="--json" in sys.argv[1:]))
    except SystemExit:
        if (failure := out_streams.unsaid_failure()) is not None:  # output lost: never a silent exit code
            sys.exit(report_internal_error(failure, json_mode="--json" in sys.argv[1:]))
        raise


if __name__ == "__main__":
    main()
