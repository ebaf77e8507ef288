"""How a running command is stopped by a signal: SIGTERM, and SIGHUP when the terminal closes,
stop it exactly as Ctrl-C does (state saved, exit 130)."""

from __future__ import annotations

import signal
from types import FrameType

_stopping = False


def _as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """SIGTERM and SIGHUP stop the command by being a Ctrl-C: inside the event loop, asyncio's
    own SIGINT handler cancels the command's task, where raising KeyboardInterrupt here would
    land in whatever task runs and escape its task group as an exception group, printed as a
    traceback at the loop's shutdown. Only the first one: a second Ctrl-C makes asyncio abandon
    the orderly stop (a KeyboardInterrupt out of the loop while its tasks are cancelled), and
    a second SIGTERM (a supervisor repeating itself) must not cut short the state being saved."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    signal.raise_signal(signal.SIGINT)


def install() -> None:
    signal.signal(signal.SIGTERM, _as_ctrl_c)
    # The terminal closed (a dropped ssh): stop as SIGTERM does, saving state and putting the
    # run's status back, unless started under `nohup` (SIGHUP ignored: keep running).
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _as_ctrl_c)
