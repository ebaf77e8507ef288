"""The `launcher` command's entry point. Importing the CLI takes a few tenths of a second, and a
Ctrl-C or SIGTERM in that time used to end in an import traceback: until the CLI is loaded,
either stops it quietly with the interrupted exit code (nothing has been done yet)."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from launcher.errors import ExitCode


def _before_start(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write(f"launcher: stopped by {signal.Signals(signum).name} while starting; nothing was done\n")
    os._exit(ExitCode.INTERRUPTED)


def install_early_handlers() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _before_start)


def main() -> None:
    install_early_handlers()
    from launcher.cli import main as cli  # the slow part

    signal.signal(signal.SIGINT, signal.default_int_handler)  # the CLI handles Ctrl-C from here
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # cli.main installs its own
    cli.main()
