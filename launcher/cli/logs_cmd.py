"""`launcher logs RUN TASK [-f] [--checks]`: a task's agent log, then its checks' output.

What it prints was written by the agent and its code (the checks run the agent's tests). On a
terminal that text is shown with its control characters escaped (`\\033[1A`, as
models/printable.py does for every other agent text; tabs and line breaks are kept), so it can
neither move the cursor nor erase, retitle or write the clipboard; the launcher's own lines
(`--- check: CMD  (FAILED, exit 1)`) are shown in bold, a style the escaped text cannot take. To
a pipe or a file (`launcher logs RUN TASK > f`, `-f` too) the log goes as its exact bytes (a
byte that is no UTF-8, a character the agent wrote in two pieces, are passed on unchanged); on a
terminal the log is decoded as it comes, a character split between two reads shown whole.

`logs -f` has no work but printing: once its reader has gone (`logs -f RUN TASK | grep -m1
READY`), it stops at once, exit 0, as `tail -f` does and as `launcher status | head` exits."""

from __future__ import annotations

import codecs
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from launcher.app import inspect as inspect_app
from launcher.cli import inspection, out_streams
from launcher.cli.calls import call, err_console
from launcher.models.printable import printable
from launcher.models.redact import StreamMask, mask

_BOLD, _PLAIN = "\x1b[1m", "\x1b[0m"


def _on_terminal() -> bool:
    try:
        return bool(sys.stdout.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def shown(text: str, terminal: bool) -> str:
    """Agent or check output as printed: escaped on a terminal (tabs and line breaks kept, a
    CRLF line end taken as a line break), its exact text elsewhere."""
    if not terminal:
        return text
    return printable(text.replace("\r\n", "\n"), newlines=True, tabs=True)


def own_line(line: str, terminal: bool) -> str:
    """A line the launcher writes among agent output: bold on a terminal that shows styles."""
    if terminal and os.environ.get("TERM") not in ("dumb", "unknown"):
        return f"{_BOLD}{line}{_PLAIN}"
    return line


class LogPrinter:
    """Prints the agent log's bytes as they come, the values the run passes masked (`secrets`,
    value -> name; a value split between two reads masked whole, models/redact.StreamMask holding
    back the end a value may be starting in until the next read or `end()`): otherwise unchanged
    to a pipe or a file (bytes that are not UTF-8, a character split between two reads, pass as
    they are); on a terminal decoded incrementally (a UTF-8 character split between two reads, a
    CRLF between them, is decoded whole) and escaped (`shown`)."""

    def __init__(self, terminal: bool, secrets: Mapping[str, str]) -> None:
        self.terminal = terminal
        self._mask = StreamMask(secrets)
        self._raw = not terminal and getattr(sys.stdout, "buffer", None) is not None
        # To a pipe: bytes that are not UTF-8 kept as they are (surrogateescape, both ways).
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape" if self._raw else "replace")
        self._held = ""  # a CR at a read's end: the start of a CRLF, or not

    def write(self, data: bytes) -> None:
        self._out(self._mask.feed(self._decoder.decode(data)))

    def end(self) -> None:
        """What is still held: the end a value may have been starting in, an unfinished character
        (to a terminal U+FFFD, as a whole read would show it; to a pipe its bytes)."""
        self._out(self._mask.feed(self._decoder.decode(b"", final=True)) + self._mask.end(), final=True)

    def _out(self, text: str, final: bool = False) -> None:
        if self._raw:
            if text:
                sys.stdout.flush()  # what was printed before goes first
                sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
                sys.stdout.buffer.flush()
            return
        text = self._held + text
        self._held = "\r" if text.endswith("\r") and not final else ""
        text = text.removesuffix(self._held)
        if text:
            sys.stdout.write(shown(text, self.terminal))
            sys.stdout.flush()


def print_checks(run_id: str, task_id: str, masked: Callable[[str], str]) -> int:
    """Every check of the task's last measurement with its output; the count printed."""
    checks = call(lambda: inspect_app.check_outputs(Path.cwd(), run_id, task_id))
    terminal = _on_terminal()
    for check in checks:
        verdict = "passed" if check.get("ok") else "FAILED"
        timed_out = ", timed out" if check.get("timed_out") else ""
        command = printable(str(check.get("command")))  # one line, whatever the plan holds
        print(own_line(f"--- check: {command}  ({verdict}, exit {check.get('exit_code')}{timed_out})", terminal))
        output = shown(masked(str(check.get("output_tail") or "")), terminal)
        sys.stdout.write(output if output.endswith("\n") or not output else output + "\n")
    return len(checks)


def logs(
    run_id: Annotated[str, typer.Argument()],
    task_id: Annotated[str, typer.Argument()],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing as it grows.")] = False,
    checks: Annotated[bool, typer.Option("--checks", help="Print the task's check output instead.")] = False,
) -> None:
    """Print a task's agent log, then its checks' output (--checks: only the checks)."""
    if not checks:  # a best-of-N task's log is its attempts': the one it lands, said on stderr
        task_id, said_whose = call(lambda: inspect_app.log_task(Path.cwd(), run_id, task_id))
        if said_whose:
            err_console.print(escape(said_whose), highlight=False)
    path = call(lambda: inspect_app.log_path(Path.cwd(), run_id, task_id))
    secrets = call(lambda: inspect_app.log_secrets(Path.cwd(), run_id))  # what the run passed: never shown

    def masked(text: str) -> str:
        return mask(text, secrets)

    terminal = _on_terminal()
    if checks:
        if not print_checks(run_id, task_id, masked):
            print(f"task {task_id} ran no checks (or has not reached them yet)")
        raise typer.Exit(0)
    printer = LogPrinter(terminal, secrets)
    if not follow:
        data = call(lambda: inspect_app.log_bytes(path, secrets))
        if data is None:
            run_dir = path.parent.parent
            said = (f"no log yet at {path}" if run_dir.is_dir() else
                    f"run {run_id} has no artifacts here any more ({run_dir} is gone): `launcher clean "
                    "--older-than DAYS` removes a settled run's; its journal rows stay (`launcher status`)")
            err_console.print(escape(said), highlight=False)
            raise typer.Exit(1)
        printer.write(data)
        printer.end()
        print_checks(run_id, task_id, masked)
        raise typer.Exit(0)

    def done() -> bool:  # the task ended, or no one reads any more
        return out_streams.reader_gone(1) or inspection.task_final(run_id, task_id)

    call(lambda: inspect_app.follow(path, printer.write, done),
         on_interrupt=lambda: f"stopped following the log of {task_id} (the run goes on as it was)")
    if not out_streams.reader_gone(1):
        printer.end()
        print_checks(run_id, task_id, masked)  # the task ended: its checks ran, as plain `logs` shows
