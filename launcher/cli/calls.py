"""Running an app coroutine from a command: our errors become their exit codes, never a traceback.
Anything else is a launcher bug: one structured "internal error" (exit 70) naming the file that
keeps its traceback (`LAUNCHER_DEBUG=1` also prints it)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape

from launcher import process
from launcher.cli import out_streams, stop_signals, workdir
from launcher.cli.entry import drop_stdout
from launcher.cli.out_streams import OutputFailed
from launcher.errors import ExitCode, LauncherError, environment_problem, launcher_error_in
from launcher.invocation import as_invoked, launcher_program
from launcher.models.printable import printable
from launcher.ui.line_out import write_text_bounded

T = TypeVar("T")

# Whether this process has begun an app call: a Ctrl-C outside one (cli/main.main) came before
# the command did anything, or after its work was done (while its result was printed).
began = False
# What a Ctrl-C in a later call says once the command has driven a run (set by
# cli/run_view.run_with_view): the work that follows the run's end (a shard run's export) is the
# run's, and `launcher resume RUN` finishes it, not the command again (a new run).
after_run: Callable[[], str | None] | None = None


class HintConsole(Console):
    """A console whose printed text names the launcher's commands as it was run (`launcher
    status` copied from a hint works when `launcher` is not on PATH: invocation.as_invoked)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(as_invoked(o) if isinstance(o, str) else o for o in objects), **kwargs)


class OutConsole(HintConsole):
    """stdout's console: when its reader has gone (`launcher run plan | head -1`), the rest is
    dropped and the command goes on to its own exit code (rich would exit 1: "a task failed")."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        drop_stdout()
# How long a stopped command's last line waits for a stderr reader that takes none of it.
LAST_LINE_GRACE_S = 2.0
# soft_wrap: an error message is one greppable line, never broken at the terminal width
err_console = HintConsole(stderr=True, soft_wrap=True)


def call(
    fn: Callable[[], Awaitable[T]], *, json_mode: bool = False,
    on_interrupt: Callable[[], str | None] | None = None, on_disk_full: Callable[[], str] | None = None,
) -> T:
    """Run an app coroutine; turn our errors into their exit codes with a clear message.
    `on_interrupt` runs first on Ctrl-C (a live view stops, so the line stays seen) and may
    return what to say instead of the default: the command again (`rerun_hint`). Only the
    commands that drive a run say that `launcher resume` continues (cli/run_view.py).
    `on_disk_full`: what to run once space is freed after a full disk stopped the command (a
    mutation command: the command again, or a sweep's `--resume ID`), for a command whose work
    `launcher resume` does not continue; None: the run pipeline's wording (errors.disk_problem)."""
    global began
    began = True
    try:
        return stop_signals.run(fn)
    except LauncherError as exc:
        if json_mode:
            print_envelope(exc)
        print_error(exc.message)
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        process.kill_all_live_groups()
        out_streams.bound(1, LAST_LINE_GRACE_S)  # a `--json` report, the last flush: never stuck on a reader
        said = on_interrupt or after_run
        hint = said() if said is not None else None
        # Bounded: a stderr whose reader does not read (`2>&1 | less` left open, a log shipper
        # under back-pressure) must not keep a stopped command alive; the line is then dropped
        # (the exit code says it: interrupted, the state saved).
        say_last((hint or rerun_hint()) + "\n")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise  # typer's own ways out
    except Exception as exc:  # a bug: said in our words, its traceback kept for the report
        if (ours := launcher_error_in(exc)) is not None:  # our error, from inside a task group
            if json_mode:
                print_envelope(ours)
            print_error(ours.message)
            raise typer.Exit(int(ours.exit_code)) from None
        then = on_disk_full() if on_disk_full is not None else None
        raise typer.Exit(report_internal_error(exc, json_mode=json_mode, then=then)) from None


def say_last(text: str) -> None:
    """A stopped command's last words on stderr, given `LAST_LINE_GRACE_S` without progress by its
    reader, then dropped: a stderr nobody reads must not keep the process alive after a stop."""
    write_text_bounded(sys.stderr, text, LAST_LINE_GRACE_S)


def report_internal_error(exc: BaseException, *, json_mode: bool, then: str | None = None) -> int:
    """A launcher bug said in our words (its traceback saved for the report); the exit code (70).
    Every way out of a command goes through here: an error while printing too (cli/main.main).
    `then`: what to run once a full disk has space again (None: `launcher resume` or the command)."""
    if not isinstance(exc, OutputFailed) and (
            (machine := environment_problem(exc, then=then) or workdir.removed_problem(nothing_done=False))
            is not None):
        # a full disk, too many open files, no process left, the folder removed: the machine, not a bug (exit 3)
        with contextlib.suppress(Exception):
            if json_mode:
                print_envelope(machine)
            print_error(machine.message)
        return int(machine.exit_code)
    saved = save_traceback(exc)
    if isinstance(exc, OutputFailed):  # not a bug: where the output goes refused it
        exc.said = True
        what = str(exc.strerror)
        fix = "check where the output goes (a full disk?); `launcher status` shows what the command did"
    else:
        what = f"internal error: {type(exc).__name__}: {exc}"
        fix = (f"this is a launcher bug; please report it with the traceback saved in {saved}" if saved else
               "this is a launcher bug; please report it (run again with LAUNCHER_DEBUG=1 for the traceback)")
    with contextlib.suppress(Exception):  # the streams themselves fail: the exit code still says it
        if json_mode:
            print(json.dumps({"ok": False, "error_key": "internal", "observations": what, "usage": fix,
                              "traceback_file": str(saved) if saved else None},
                             ensure_ascii=True, separators=(",", ":")), flush=True)
        if os.environ.get("LAUNCHER_DEBUG"):
            err_console.print("".join(traceback.format_exception(exc)), highlight=False, markup=False)
        print_error(f"{what}\nFix: {fix}")
    return int(ExitCode.INTERNAL)


def print_error(message: str) -> None:
    """`error: MESSAGE` on stderr. The message's own line breaks stay; every other control
    character an agent's file name or words brought is shown escaped, and nothing in it is rich
    markup ("[agents.<name>]", paths, plan keys are user text)."""
    err_console.print(f"[bold red]error:[/] {escape(printable(message, newlines=True))}", highlight=False)


def command_line() -> str:
    """The command as the user typed it, quoted for a shell (`launcher pool warm 6`; the launcher
    named as it was run, `invocation.launcher_program`)."""
    return " ".join([launcher_program(), *([shlex.join(sys.argv[1:])] if sys.argv[1:] else [])])


def rerun_hint() -> str:
    """What Ctrl-C of a command that drives no run says: `launcher resume` continues a *run*
    (the latest one, which may be one stopped on purpose), never this command's work."""
    return f"interrupted: stopped before it finished; run `{command_line()}` again to finish"


def print_envelope(exc: LauncherError) -> None:
    """The error's envelope (DESIGN 7.1) on stdout, one line: what `--json` prints for an error."""
    print(json.dumps(exc.envelope(), ensure_ascii=True, separators=(",", ":")), flush=True)


def save_traceback(exc: BaseException) -> Path | None:
    """The traceback in `.launcher/internal-errors/` of the repository we run in (else the temp
    folder); None when nowhere takes it."""
    text = "".join(traceback.format_exception(exc))
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        here: Path | None = Path.cwd()
    except OSError:  # the folder we ran in was removed: the temp folder keeps it
        here = None
    state = next((d / ".launcher" for d in (here, *here.parents) if (d / ".launcher").is_dir()), None) if here \
        else None
    for folder in ([state / "internal-errors"] if state else []) + [Path(tempfile.gettempdir()) / "launcher-errors"]:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8", errors="backslashreplace")
            return path
        except OSError:
            continue
    return None


