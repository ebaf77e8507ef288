"""How asyncio learns that a child process exited, on Python 3.11.

Python 3.11's asyncio waits for every child in a thread of its own (`ThreadedChildWatcher`), and
starting that thread blocks the event loop until the thread runs: with dozens of agents and
hundreds of short git commands on a busy machine, the loop spends much of a run waiting for
threads to be scheduled. On Linux a pidfd (a file descriptor that becomes readable when the
process exits) lets the loop itself watch the child, with no thread; Python 3.12 does exactly
that on its own, so this is installed on 3.11 only, and only where `pidfd_open` works.
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

_installed = False


if sys.version_info < (3, 12):  # asyncio's child watchers are gone from 3.14 on

    class PidfdWatcher(asyncio.AbstractChildWatcher):
        """A child watcher that needs no thread and no attached loop: each child is watched by the
        loop running when it was started (unlike 3.11's `PidfdChildWatcher`, which keeps the first
        loop it was attached to, so it would break the next `anyio.run` in the same process)."""

        def __init__(self) -> None:
            self._watched: dict[int, tuple[asyncio.AbstractEventLoop, int]] = {}

        def add_child_handler(self, pid: int, callback: Callable[..., Any], *args: Any) -> None:  # type: ignore[override]
            loop = asyncio.get_running_loop()
            pidfd = os.pidfd_open(pid)
            self._watched[pid] = (loop, pidfd)
            loop.add_reader(pidfd, self._exited, pid, callback, args)

        def _exited(self, pid: int, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
            if not self._forget(pid):
                return
            try:
                _, status = os.waitpid(pid, 0)
                returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # reaped elsewhere: the same answer asyncio's watchers give
                returncode = 255
            callback(pid, returncode, *args)

        def _forget(self, pid: int) -> bool:
            watched = self._watched.pop(pid, None)
            if watched is None:
                return False
            loop, pidfd = watched
            if not loop.is_closed():
                loop.remove_reader(pidfd)
            os.close(pidfd)
            return True

        def remove_child_handler(self, pid: int) -> bool:
            return self._forget(pid)

        def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
            pass  # every child is watched by its own running loop

        def close(self) -> None:
            for pid in list(self._watched):
                self._forget(pid)

        def is_active(self) -> bool:
            return True

        def __enter__(self) -> PidfdWatcher:
            return self

        def __exit__(self, *exc: object) -> None:
            pass


def _pidfd_works() -> bool:
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # an old kernel, or a sandbox that forbids the call
        return False
    return True


def install() -> None:
    """Use `PidfdWatcher` for asyncio's children (once per process; 3.11 on Linux only)."""
    global _installed
    if _installed:
        return
    _installed = True
    if sys.version_info >= (3, 12) or not sys.platform.startswith("linux") or not _pidfd_works():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_child_watcher(PidfdWatcher())
