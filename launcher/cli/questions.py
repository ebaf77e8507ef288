"""Questions put to the operator at the terminal by a running command (`mutation label`'s walk,
`mutation judge`'s cost question). They are asked from inside the command's event loop, where a
plain `input()` held Ctrl-C until every question had been answered: here Ctrl-C (or SIGTERM,
SIGHUP) at a question stops the command at once (exit 130), the pending answer unused."""

from __future__ import annotations

import select
import sys

from launcher.cli import stop_signals

# How often a question waiting for its answer looks for a Ctrl-C delivered to another thread of
# the process (then the read in this one is not interrupted; the handler runs once it polls).
POLL_S = 0.1


def ask_line(question: str) -> str:
    """The line typed after `question`, without its newline (EOFError on Ctrl-D)."""

    def read() -> str:
        sys.stdout.write(question)
        sys.stdout.flush()
        while not select.select([sys.stdin], [], [], POLL_S)[0]:
            pass  # a signal's Python handler runs between two polls, in this (the main) thread
        return input()

    try:
        return stop_signals.interruptible(read)
    except KeyboardInterrupt:
        print(flush=True)  # what comes next ("interrupted: ...") starts on a line of its own
        raise


def confirm(question: str) -> bool:
    """`question [y/N]: ` until answered y or n (Enter, Ctrl-D: no)."""
    while True:
        try:
            reply = ask_line(f"{question} [y/N]: ").strip().lower()
        except EOFError:
            print(flush=True)
            return False
        if reply in ("y", "yes"):
            return True
        if reply in ("", "n", "no"):
            return False
        print("please answer y or n", flush=True)
