"""`launcher mutation ...`: sweep, merge shards, reports, show one mutant."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from launcher.app.mutation import reports as mutation_reports
from launcher.app.mutation import setup as mutation_setup
from launcher.app.mutation.history import list_sweeps
from launcher.app.mutation.judge import JudgeOptions, configured_judges, judge_survivors
from launcher.app.mutation.setup import split_args
from launcher.app.mutation.sweep import SweepOptions, run_sweep
from launcher.cli import mutation_loop, questions
from launcher.cli.calls import call, command_line
from launcher.cli.lazy_commands import LAZY_GROUPS
from launcher.cli.mutation_progress import progress_for
from launcher.cli.say_out import said_to
from launcher.gates.calibration import GateExit, GateResult, interval_text, precision_text, run_gate, undefined_text
from launcher.mutation.results import fail_under_passes, render_table


class ReportFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    STRYKER = "stryker"
    HTML = "html"


mutation_app = typer.Typer(help=LAZY_GROUPS["mutation"].help, no_args_is_help=True)


def again() -> str:
    """What a mutation command stopped by a full disk says to run once space is freed: itself
    (`launcher resume` continues runs, never a mutation command's work; a sweep that has its id
    names its own `--resume ID`, app/mutation/sweep_end.py)."""
    return f"run `{command_line()}` again"


@mutation_app.command()
def sweep(
    paths: Annotated[list[str] | None, typer.Argument(help="Files or folders (default: the packages).")] = None,
    test_cmd: Annotated[str | None, typer.Option(
        help="Custom test command: the whole command per mutant, slow (default: pytest, per-test selection).")] = None,
    pytest_args: Annotated[str | None, typer.Option(
        help="Extra pytest arguments, shell-quoted (-m, -k, --deselect...); keeps the fast path.")] = None,
    python: Annotated[str | None, typer.Option(
        help="Python that runs pytest (default: the active virtualenv's, else `python` on PATH).")] = None,
    workers: Annotated[int, typer.Option(min=0, help="Parallel workers (0: one per CPU).")] = 0,
    since: Annotated[str | None, typer.Option(help="Mutate only lines changed since REF.")] = None,
    shard: Annotated[str | None, typer.Option(help="I/N: this machine's share, by stable id.")] = None,
    max_mutants: Annotated[int | None, typer.Option(min=1)] = None,
    operators: Annotated[str | None, typer.Option(help="Comma-separated operator names.")] = None,
    timeout_factor: Annotated[float, typer.Option(min=1.0, help="Timeout = factor x baseline.")] = 3.0,
    fail_under: Annotated[float | None, typer.Option(
        min=0.0, max=100.0, help="Exit 1 under this mutation score (%, 0-100).")] = None,
    resume: Annotated[str | None, typer.Option(help="Continue an interrupted sweep by id.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Re-run unchanged mutants too.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count the mutants per file and operator; run nothing.")]
    = False,
    json_mode: Annotated[bool, typer.Option("--json", help="Machine-readable summary on stdout.")] = False,
) -> None:
    """Run a mutation sweep; writes .launcher/mutation-runs/<sweep-id>/ (report, survivors, Stryker)."""
    options = SweepOptions(
        paths=list(paths or []), test_cmd=test_cmd, python=python, workers=workers, since=since, shard=shard,
        max_mutants=max_mutants, fail_under=fail_under, resume=resume, timeout_factor=timeout_factor,
        operators=[o.strip() for o in operators.split(",") if o.strip()] if operators else None,
        use_cache=not no_cache,
    )

    async def split() -> list[str]:  # in `call`: a quoting error is a usage error, not a traceback
        return split_args(pytest_args)

    options.pytest_args = call(split, json_mode=json_mode)
    if dry_run:
        counted = call(lambda: mutation_setup.dry_run(Path.cwd(), options), json_mode=json_mode)
        sys.stdout.write(json.dumps(counted.as_dict(), indent=2) + "\n" if json_mode else counted.text())
        raise typer.Exit(0)
    progress = progress_for(Console(stderr=True, soft_wrap=True))
    try:
        outcome = call(lambda: run_sweep(Path.cwd(), options, progress.say, progress),
                       json_mode=json_mode, on_interrupt=progress.interrupted, on_disk_full=again)  # fmt: skip
    finally:
        progress.close()
    summary = {"sweep_id": outcome.sweep_id, "out_dir": str(outcome.out_dir), "counts": outcome.counts,
               "score": outcome.score, "passed_fail_under": outcome.passed_fail_under,
               "base_sha": outcome.base_sha, "notes": outcome.notes}
    if json_mode:
        print(json.dumps(summary, indent=2))
        if not outcome.passed_fail_under:
            print(_gate_failure(outcome.score, sum(outcome.counts.values()), fail_under), file=sys.stderr)
    else:
        # A log (CI) is as wide as the table needs; a terminal keeps its own width.
        console = Console(width=None if sys.stdout.isatty() else 160)
        if any(not r.status.detected for r in outcome.results):
            console.print(render_table(outcome.results))  # the mutants that need attention
        sys.stdout.write(outcome.headline)
        if not outcome.passed_fail_under:
            print(_gate_failure(outcome.score, sum(outcome.counts.values()), fail_under))
        print(f"reports: {outcome.out_dir}")
    raise typer.Exit(outcome.exit_code)


@mutation_app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, help="How many sweeps, newest first.")] = 20,
    json_mode: Annotated[bool, typer.Option("--json", help="Machine-readable list on stdout.")] = False,
) -> None:
    """The repository's sweeps, newest first: status, score, and how to continue an unfinished one."""
    found = call(lambda: list_sweeps(Path.cwd(), limit), json_mode=json_mode, on_disk_full=again)
    if json_mode:
        print(json.dumps([s.as_dict() for s in found], indent=2))
        return
    if not found:
        print("no mutation sweeps yet: `launcher mutation sweep` starts one")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("sweep", "status", "started (UTC)", "base", "mutants", "score", "next"):
        table.add_column(column, no_wrap=column != "next")
    for s in found:
        score = "n/a" if s.score is None else f"{s.score:.1f}%"
        if s.score is not None and s.status != "done":
            score += " so far"  # an unfinished sweep's partial score
        table.add_row(*(Text(c) for c in (s.sweep_id, s.status, s.created, s.base_sha, s.progress, score,
                                          s.next_step)))  # fmt: skip
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@mutation_app.command()
def merge(
    dirs: Annotated[list[Path], typer.Argument(help="Shard result directories.")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Directory for the merged run.")] = None,
    fail_under: Annotated[float | None, typer.Option(
        min=0.0, max=100.0, help="Exit 1 under this mutation score (%, 0-100).")] = None,
) -> None:
    """Join shard results into one run (equal to the unsharded sweep)."""
    merged = call(lambda: mutation_reports.merge(Path.cwd(), dirs, out), on_disk_full=again)
    score = json.loads((merged / "report.json").read_text(encoding="utf-8")).get("score")
    shown = f"{score:.1f}%" if isinstance(score, (int, float)) else "n/a"  # as a sweep prints it
    print(f"merged {len(dirs)} shard(s) into {merged}; mutation score {shown}")
    run = json.loads((merged / "mutants.json").read_text(encoding="utf-8"))
    since = (run.get("options") or {}).get("since")  # the shards agree on it (merge checks their options)
    passed, why = fail_under_passes(score, len(run.get("mutants") or []), since, fail_under)
    if why:
        print(f"note: {why}")
    if not passed:
        print(_gate_failure(score, None, fail_under))
        raise typer.Exit(1)


def _gate_failure(score: float | None, mutants: int | None, fail_under: float | None) -> str:
    """Why `--fail-under` failed: under the bar, or nothing scored at all (which never passes)."""
    if score is not None:
        return f"mutation score under --fail-under {fail_under}%"
    if not mutants:
        return (f"nothing was mutated (0 mutants): --fail-under {fail_under}% fails; check the PATHS, "
                f"--since and --shard of the sweep")  # fmt: skip
    return f"no mutant counts toward the score ({mutants} mutant(s), none scored): --fail-under {fail_under}% fails"


@mutation_app.command()
def report(
    run: Annotated[str | None, typer.Argument(help="Run directory or name (default: the latest).")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="Report format.")] = ReportFormat.TEXT,
    out: Annotated[Path | None, typer.Option("-o", "--out")] = None,
) -> None:
    """Print or write a sweep's report."""
    written = call(lambda: mutation_reports.report(Path.cwd(), run, fmt.value, out), on_disk_full=again)
    sys.stdout.write(written.rstrip() + "\n")


@mutation_app.command()
def show(mutant_id: Annotated[str, typer.Argument(help="A mutant's stable id.")]) -> None:
    """Show one mutant as a diff of its file."""
    text = call(lambda: mutation_reports.show(Path.cwd(), mutant_id), on_disk_full=again)
    # Not rstrip(): a diff's last context line may be a blank line (" \n"), and `git apply` needs it.
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@mutation_app.command()
def gate(
    verdict: Annotated[Path, typer.Option("--verdict", help="The judge's verdict.json.")],
    calibration: Annotated[Path, typer.Option("--calibration", help="The labelled calibration set.")],
    threshold: Annotated[float | None, typer.Option(help="Min precision (else $JUDGE_PRECISION_MIN, 0.8).")] = None,
    report_path: Annotated[Path | None, typer.Option("--report", help="Where calibration-report.json goes.")] = None,
    min_lower_bound: Annotated[float | None, typer.Option(
        help="Also fail when precision's 95% Wilson lower bound is under this (0..1).")] = None,
    json_mode: Annotated[bool, typer.Option("--json", help="Print the whole report.")] = False,
) -> None:
    """Score a judge against a labelled set: exit 0 passed, 1 failed, 2 bad input, 3 precision undefined."""

    async def body() -> GateResult:
        judges = await configured_judges(Path.cwd())  # a calibration verdict of another judge is refused
        return run_gate(verdict, calibration, threshold=threshold, report_path=report_path,
                        min_lower_bound=min_lower_bound, judges=judges)

    result = call(body, json_mode=json_mode, on_disk_full=again)
    report = result.report
    if json_mode:  # one line, as the seed's gate scripts print and other orchestrators parse
        print(json.dumps(report, separators=(",", ":")))  # ASCII JSON: valid whatever a name holds
    else:
        def pct(value: float | None) -> str:
            return "undefined" if value is None else f"{100 * value:.1f}%"

        c = report["confusion"]
        print(f"calibration gate: {report['gate_verdict']} - {precision_text(report)}, "
              f"recall {pct(report['recall'])}{interval_text(report['recall_interval'])}; "
              f"TP {c['TP']} FP {c['FP']} FN {c['FN']} TN {c['TN']}")
        for warning in report.get("warnings") or []:
            print(f"warning: {warning}")
        if result.exit_code == GateExit.UNDEFINED:
            print(undefined_text(report))
        print(f"report: {result.report_path}")
    raise typer.Exit(int(result.exit_code))


@mutation_app.command()
def judge(
    run: Annotated[str | None, typer.Argument(help="Sweep run dir or name (default: the latest).")] = None,
    agent: Annotated[str | None, typer.Option(help="Judge agent (default: [mutation] judge).")] = None,
    confirm_judge: Annotated[bool, typer.Option("--confirm-judge", help="Agree to the paid call.")] = False,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Survivors per judge call.")] = None,
    calibrate: Annotated[bool, typer.Option("--calibrate", help="Judge the labelled set, then gate.")] = False,
    calibration: Annotated[Path | None, typer.Option(help="Calibration set (mutation/calibration-set.json).")] = None,
    threshold: Annotated[float | None, typer.Option(help="Gate precision (with --calibrate).")] = None,
    min_lower_bound: Annotated[float | None, typer.Option(
        help="With --calibrate: also fail when precision's 95% lower bound is under this.")] = None,
    json_mode: Annotated[bool, typer.Option("--json", help="Machine-readable summary on stdout.")] = False,
) -> None:
    """Have a judge agent classify survivors as genuine or equivalent (asks before the paid call)."""
    options = JudgeOptions(run=run, agent=agent, confirm=confirm_judge, batch_size=batch_size, calibrate=calibrate,
                           calibration=calibration, threshold=threshold, min_lower_bound=min_lower_bound)  # fmt: skip
    ask = questions.confirm if sys.stdin.isatty() and not json_mode else None  # Ctrl-C at it: exit 130

    # what is judged, before the call (stderr under --json); never blocks the event loop
    with said_to(sys.stderr if json_mode else sys.stdout) as say:
        summary = call(lambda: judge_survivors(Path.cwd(), options, say.asking(ask), say), json_mode=json_mode,
                       on_disk_full=again)
    if json_mode:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(summary.message)
        for note in summary.notes:
            print(f"  {note}")
        print(summary.cost_line)
        if summary.verdict_path:
            print(f"verdict: {summary.verdict_path}")
        for warning in summary.warnings:
            print(f"warning: {warning}")
        if summary.report_path:
            print(f"report: {summary.report_path}")
    raise typer.Exit(summary.exit_code)


# The loop's commands live in their own module (cli/mutation_loop.py): registered here.
mutation_app.command("fix", cls=mutation_loop.FixCommand)(mutation_loop.fix)
mutation_app.command("label")(mutation_loop.label)
