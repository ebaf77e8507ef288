"""Running an app coroutine from a command: our errors become their exit codes, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import typer
from rich.console import Console
from rich.markup import escape

from launcher import process
from launcher.errors import ExitCode, LauncherError

T = TypeVar("T")
# soft_wrap: an error message is one greppable line, never broken at the terminal width
err_console = Console(stderr=True, soft_wrap=True)


def call(fn: Callable[[], Awaitable[T]], *, json_mode: bool = False) -> T:
    """Run an app coroutine; turn our errors into their exit codes with a clear message."""
    try:
        return anyio.run(fn)
    except LauncherError as exc:
        if json_mode:
            print(json.dumps(exc.envelope(), indent=2))
        # escape: messages quote user text and hints like `[[task]]` that rich would eat as markup
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        process.kill_all_live_groups()
        err_console.print("interrupted: state saved; `launcher resume` continues")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


