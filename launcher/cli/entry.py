"""The `launcher` command's entry point. Importing the CLI takes a few tenths of a second, and a
Ctrl-C or SIGTERM in that time used to end in an import traceback: until the CLI is loaded,
either stops it with one line on stderr and the interrupted exit code (nothing has been done yet)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType

from launcher.errors import ExitCode


def _before_start(signum: int, frame: FrameType | None) -> None:
    # Straight to fd 2: os._exit flushes no buffer, and the signal may have come in the middle
    # of a write to sys.stderr (writing to it again here would raise "reentrant call").
    message = f"launcher: stopped by {signal.Signals(signum).name} while starting; nothing was done\n"
    with contextlib.suppress(OSError):
        os.write(2, message.encode())
    os._exit(ExitCode.INTERRUPTED)


def install_early_handlers() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signum is signal.SIGHUP and signal.getsignal(signum) is signal.SIG_IGN:
            continue  # started under `nohup`
        signal.signal(signum, _before_start)


def main() -> None:
    install_early_handlers()
    from launcher.cli import out_streams

    out_streams.install()  # nothing printed fails on its way out (encoding, a reader gone)
    from launcher.cli import main as cli  # the slow part
    from launcher.git.discovery_memo import discovery_kept

    signal.signal(signal.SIGINT, signal.default_int_handler)  # the CLI handles Ctrl-C from here
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # cli.main installs its own
    if signal.getsignal(signal.SIGHUP) is _before_start:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)  # cli.main installs its own
    try:
        with discovery_kept():  # one command asks for its repository several times: git once
            cli.main()
    finally:
        flush_or_drop_stdout()
        # The command has ended and its exit code is decided: a signal while the interpreter
        # tears down (which puts the default handlers back) must not turn it into "killed by".
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, signal.SIG_IGN)


def flush_or_drop_stdout() -> None:
    """Flush stdout now; if its reader has gone (`launcher run ... | head -1`), what is left is
    dropped instead: Python's own flush at exit would fail and turn the command's exit code
    (the run's: 0, 1, 4...) into 1, which says a task failed."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # a reader gone, or a failure already said (cli/out_streams)
        drop_stdout()


def drop_stdout() -> None:
    """Point fd 1 at /dev/null: what is still buffered for a reader that has gone is dropped."""
    from launcher.cli.out_streams import drop_fd

    with contextlib.suppress(OSError, ValueError):
        drop_fd(sys.stdout.fileno())
