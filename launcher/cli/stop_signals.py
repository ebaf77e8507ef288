"""How a running command is stopped by a signal: Ctrl-C, and SIGTERM or SIGHUP (the terminal
closed), stop it once, in order (agents get SIGTERM, then SIGKILL after their grace; state saved;
exit 130). Only the first of them counts: a second Ctrl-C made asyncio raise KeyboardInterrupt in
the middle of that stop, cutting the SIGKILL of an agent that ignores SIGTERM short, and the
launcher then waited for that agent to end of its own accord, however long it ran."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, TypeVar

import anyio

from launcher.bounded_write import write_bounded

T = TypeVar("T")

_STOPPING_NOTICE = (b"launcher: already stopping: the agents get SIGTERM, then SIGKILL; the state is being "
                    b"saved. Ctrl-\\ kills the launcher now (its agents are then left to `launcher clean`)\n")
_stopping = False  # a Ctrl-C (or a signal taken as one) was delivered to the command
_sigterm_seen = False
_noticed = False


def _as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """SIGTERM and SIGHUP stop the command by being a Ctrl-C: inside the event loop, asyncio's
    own SIGINT handler cancels the command's task, where raising KeyboardInterrupt here would
    land in whatever task runs and escape its task group as an exception group, printed as a
    traceback at the loop's shutdown. Only the first one: a supervisor repeating itself must not
    cut short the state being saved."""
    global _sigterm_seen
    if _sigterm_seen:
        return
    _sigterm_seen = True
    signal.raise_signal(signal.SIGINT)


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    global _noticed
    if not _noticed:
        _noticed = True
        # Not sys.stderr: the handler may run inside one of its writes. From a thread: a stderr
        # whose reader does not read must not hold up the stop this notice is about.
        write_bounded(2, _STOPPING_NOTICE, grace_s=0.2)


def _first_only(runner_handler: Callable[[int, FrameType | None], Any]) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        global _stopping
        if _stopping:
            _already_stopping(signum, frame)
            return
        _stopping = True
        runner_handler(signum, frame)

    return handler


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """`anyio.run(fn)`, where a Ctrl-C after the first (or after a SIGTERM) is only told that the
    launcher is stopping already, inside the loop, in its teardown, and after it."""
    async def guarded() -> T:
        runner_handler = signal.getsignal(signal.SIGINT)
        if callable(runner_handler) and runner_handler not in (signal.default_int_handler, _already_stopping):
            signal.signal(signal.SIGINT, _first_only(runner_handler))  # asyncio's: cancels the main task
        return await fn()

    try:
        return anyio.run(guarded)
    finally:
        if _stopping:
            signal.signal(signal.SIGINT, _already_stopping)
        elif signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def interruptible(read: Callable[[], T]) -> T:
    """A question put to the operator from inside the event loop (`read`: `input()`, a confirm).
    The read blocks the loop's thread, so asyncio's Ctrl-C (a cancellation of the command's task)
    would land only once the operator had answered every question: here a Ctrl-C (or a SIGTERM
    or SIGHUP, taken as one) while it waits stops the command at once, as KeyboardInterrupt (exit
    130), nothing of the pending answer used; one that came between two questions stops it before
    the next is asked. A `read` that turns KeyboardInterrupt into its own error (click's Abort) is
    still stopped as Ctrl-C. A signal delivered to another thread of the process does not
    interrupt the read in this one: `read` must return to Python now and then (cli/questions.py
    polls) for the handler to run."""
    if _stopping:
        raise KeyboardInterrupt
    previous = signal.getsignal(signal.SIGINT)
    interrupted = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True
        if callable(previous):  # the command's own stop: its task cancelled, a second Ctrl-C only told
            previous(signum, frame)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    try:
        return read()
    except BaseException:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if signal.getsignal(signal.SIGINT) is stop:
            signal.signal(signal.SIGINT, previous)


def install() -> None:
    signal.signal(signal.SIGTERM, _as_ctrl_c)
    # The terminal closed (a dropped ssh): stop as SIGTERM does, saving state and putting the
    # run's status back, unless started under `nohup` (SIGHUP ignored: keep running).
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _as_ctrl_c)
