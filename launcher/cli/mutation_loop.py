"""`launcher mutation fix` and `launcher mutation label`: close the loop on a sweep's survivors."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from launcher.app.mutation.fix import FixOptions, FixSummary, fix_survivors
from launcher.app.mutation.label import CALIBRATION_FILE, label_survivors
from launcher.cli.calls import call, command_line
from launcher.cli.questions import ask_line
from launcher.cli.say_out import said_to
from launcher.errors import ExitCode
from launcher.invocation import launcher_program
from launcher.models.printable import one_line
from launcher.ui.plain import PlainView


class FixCommand(TyperCommand):
    """`fix`'s `--ids` takes every value up to the next option (`--ids 1 3 ab12cd`), as its help
    and the README show; a RUN is named before it."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, greedy_ids(args))


def fix_lines(summary: FixSummary) -> list[str]:
    """What `mutation fix` prints per mutant and task, one line each: test names and refusal
    reasons hold agents' text (file names), which never makes a line of its own."""
    lines = [f"killed {one_line(mutant)} by {one_line(', '.join(tests))}" for mutant, tests in summary.killed.items()]
    lines += [f"refused {one_line(task_id)}: {one_line(why)}" for task_id, why in summary.refused.items()]
    return lines


def greedy_ids(args: list[str]) -> list[str]:
    """`--ids 1 3` -> `--ids 1,3`: the values after --ids up to the next option or `--`."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--ids" or arg.startswith("--ids="):
            values = [arg.removeprefix("--ids=")] if arg.startswith("--ids=") else []
            i += 1
            while i < len(args) and not args[i].startswith("-"):
                values.append(args[i])
                i += 1
            out.append("--ids")
            if values:  # none: click says the option needs a value
                out.append(",".join(values))
            continue
        if arg == "--":
            out.extend(args[i:])
            break
        out.append(arg)
        i += 1
    return out


def fix(
    run: Annotated[str | None, typer.Argument(help="Sweep run dir or name (default: the latest).")] = None,
    agent: Annotated[str, typer.Option(
        help="Test-writing agent (launcher.toml or an adapter; scripted-test-writer needs no model).")]
    = "scripted-test-writer",
    max_tasks: Annotated[int | None, typer.Option("--max", min=1, help="At most N tasks (one per function).")] = None,
    ids: Annotated[list[str] | None, typer.Option(
        "--ids", metavar="ID...", help="Only these survivors: one or more stable ids or numbers (`--ids 1 3`); "
                                       "name RUN before --ids.")] = None,
    all_unjudged: Annotated[bool, typer.Option("--all", help="Also the survivors no judge has seen.")] = False,
    python: Annotated[str | None, typer.Option(help="Python that runs the tests (default: as the sweep).")] = None,
    max_parallel: Annotated[int | None, typer.Option(min=1, help="Tasks at a time.")] = None,
    json_mode: Annotated[bool, typer.Option("--json", help="Machine-readable summary on stdout.")] = False,
) -> None:
    """Turn genuine survivors into test-writing tasks; a test lands only if it kills its mutants."""
    options = FixOptions(run=run, agent=agent, max_tasks=max_tasks, ids=[i for raw in ids or [] for i in
                         raw.replace(",", " ").split()], all_unjudged=all_unjudged, python=python,
                         max_parallel=max_parallel)  # fmt: skip
    view = PlainView(sys.stderr)
    try:
        summary = call(lambda: fix_survivors(Path.cwd(), options, view.handle), json_mode=json_mode)
    except BaseException:
        view.abandon()  # stopped or failed: a reader that does not read must not hold the exit up
        raise
    view.stop()  # its lines written out (a writer thread's), before the summary
    if json_mode:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        for line in fix_lines(summary):
            print(line)
        print(summary.message)
        if summary.run_id:
            print(f"run: {summary.run_id}; sweep: {summary.sweep_dir}")
    raise typer.Exit(summary.exit_code)


def _ask(question: str) -> str:
    """One question at the terminal; Ctrl-C while it waits stops at once (exit 130), the pending
    answer unwritten: the walk runs inside the event loop, where `input()` alone would hold
    asyncio's Ctrl-C until every question was answered (cli/questions.py)."""
    try:
        return ask_line(question)
    except EOFError:  # Ctrl-D: quit, keeping what was written
        return "q"


def label_interrupted() -> str:
    return (f"interrupted: the labels answered before Ctrl-C are kept in {CALIBRATION_FILE}, the question "
            "pending was not written; run `launcher mutation label` again to label the rest")


def label(
    run: Annotated[str | None, typer.Argument(help="Sweep run dir or name (default: the latest).")] = None,
    from_verdict: Annotated[Path | None, typer.Option(
        "--from-verdict", help="Walk this judge verdict.json: accept or flip each call.")] = None,
) -> None:
    """Confirm survivors' labels at the terminal; each answer goes to mutation/calibration-set.json at once."""
    ask = _ask if sys.stdin.isatty() else None

    with said_to(sys.stdout) as say:  # never blocks the event loop
        summary = call(lambda: label_survivors(Path.cwd(), run, from_verdict, say.asking(ask), say),
                       on_interrupt=label_interrupted,
                       on_disk_full=lambda: f"run `{command_line()}` again (the labels answered so far are kept)")
    print(summary.message)
    raise typer.Exit(int(ExitCode.OK))


def run_demo_mutation(root: Path, *, temp: bool, json_mode: bool) -> None:
    """`launcher demo --mutation` in the sample repo made in `root` (in a temp directory of its
    own if `temp`): a survivor, a test written for it, the mutant killed, the score up."""
    from launcher.app.mutation.demo import run_mutation_demo
    from launcher.cli.demo_stopped import stopped_line

    with said_to(sys.stderr if json_mode else sys.stdout) as say:  # never blocks the event loop
        demo = call(lambda: run_mutation_demo(lambda _event: None, say, root), json_mode=json_mode,
                    on_interrupt=lambda: stopped_line(root, temp=temp))
    if json_mode:
        print(json.dumps({"repo": str(demo.repo), "survivors": demo.survivors, "tests_written": demo.tests_written,
                          **demo.fix.as_dict()}, indent=2))  # fmt: skip
    else:
        for rel, text in demo.tests_written.items():
            print(f"test written by the scripted test writer: {rel}\n" + "".join(f"  | {line}\n" for line in
                                                                                 text.splitlines()))  # fmt: skip
        for mutant_id, tests in demo.fix.killed.items():
            print(f"mutant {one_line(mutant_id)} killed by {one_line(', '.join(tests))} (checked by the launcher: "
                  "passes on the original, fails on the mutant)")  # fmt: skip
        for task_id, why in demo.fix.refused.items():
            print(f"refused {one_line(task_id)}: {one_line(why)}")
        print(demo.fix.message)
        print(f"  cd {shlex.quote(str(demo.repo))} && {launcher_program()} mutation report    # the sweep, updated")
    raise typer.Exit(demo.fix.exit_code)
