"""One forked child of the fork executor's warm worker (`fork_worker.py`): started in its own
process group with its own log, waited for until it exits or its deadline passes (EOF on the
worker's stdin, the executor gone, kills it and the worker), then read: its exit code, the tests
it failed and the tail of its log.

Stdlib only, and no `launcher` import, as for `fork_worker.py`: it runs inside the project's
Python, loaded from beside the worker.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

TAIL_BYTES = 8000
# Exit codes of a child that never got to report a test outcome (pytest uses 0-5; the worker's
# own, for a mutant it could not serve, are in fork_worker.py).
EXIT_HARNESS = 97  # the worker's own machinery failed in the child
# A child that exited 0 without writing its result: the mutant ended the process (`os._exit(0)`)
# before its tests finished. Exit status 0 alone would read as "all passed" (a false survivor).
EXIT_UNFINISHED = 94


class Channel(Protocol):
    """The worker's protocol input (`fork_worker.Lines`): its descriptor, and a read into its buffer."""

    fd: int

    def fill(self) -> bool: ...


def flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed stream must not stop an exit
            stream.flush()


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _has_exited(pid: int) -> bool:
    """Without reaping it: a zombie leader keeps its group id reserved until we kill the rest."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None and info.si_pid == pid


def start(body: Callable[[str], int], log: str, result: str, *, pdeathsig: Any,
          redirect_log: Callable[[int], None], close: tuple[int, ...]) -> int:
    """Fork a child that runs `body(result)` with its output in `log` (`redirect_log(fd)` points
    the worker's log descriptors it inherited there too) and the descriptors `close` closed;
    answer its pid, the leader of its own process group."""
    for stale in (log, result):
        if os.path.exists(stale):
            os.unlink(stale)
    flush()  # or the child would inherit, and write out, the worker's buffered output
    pid = os.fork()
    if pid == 0:
        _child_main(body, log, result, pdeathsig, redirect_log, close)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done in the child: whichever runs first
    return pid


def _child_main(body: Callable[[str], int], log: str, result: str, pdeathsig: Any,
                redirect_log: Callable[[int], None], close: tuple[int, ...]) -> None:
    code = EXIT_HARNESS
    try:
        os.setpgid(0, 0)  # its own group: a timeout kills whatever the tests started too
        _exit_handlers("_clear")  # the warm process's own: never run here (see `run_exit_handlers`)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if pdeathsig is not None:
            pdeathsig(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        redirect_log(fd)  # pytest's saved copies of the log too
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)  # and the protocol pipes are no longer held by the child
        os.close(null)
        for held in close:
            os.close(held)
        code = body(result)
        join_threads()
        run_exit_handlers()
    except BaseException:  # whatever happens, the child must not return
        traceback.print_exc()
    finally:
        flush()
        os._exit(code)


def join_threads() -> None:
    """What a real interpreter does at exit before it can end, which `os._exit` skips: run
    threading's own exit hooks (`concurrent.futures` shutting its pools down) and join every
    non-daemon thread still running. A thread the tests left running keeps `python -m pytest`
    from ever exiting (CI times out); here the run then hangs too, and the worker's deadline
    makes it a timeout, as it is. (Threads of the process this one was forked from do not exist
    here: only those the run started.)"""
    threading = sys.modules.get("threading")
    if threading is None:
        return
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        try:
            shutdown()
            return
        except Exception:  # a private API: join by hand instead
            pass
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()


def run_exit_handlers() -> None:
    """What a real interpreter does next, which `os._exit` skips too: run the `atexit` handlers
    registered in this child (by the modules the run imported, by the tests). One can end the
    process with its own status (a leak check's `os._exit(3)` when something the mutant left
    open remains): `python -m pytest` then fails, and so must the child. An exception in one is
    printed and ignored, as the interpreter does. The handlers inherited from the warm process
    were dropped when the child started: they belong to that process (a `weakref.finalize` of its
    own, such as a temporary directory's removal, must not run in each of its children)."""
    _exit_handlers("_run_exitfuncs")


def _exit_handlers(action: str) -> None:
    method = getattr(atexit, action, None)  # CPython's, private: skipped where absent
    if method is not None:
        method()


def wait(pid: int, timeout: float, lines: Channel) -> tuple[int, bool]:
    """Wait for the child or the deadline; EOF on stdin (the executor is gone) kills it."""
    deadline = time.monotonic() + timeout
    pidfd: int | None = None
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None  # poll instead
    timed_out = False
    try:
        while not _has_exited(pid):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            # poll(), never select(): a test suite that holds many files gives descriptors
            # >= FD_SETSIZE (1024), which select() refuses.
            poller = select.poll()
            poller.register(lines.fd, select.POLLIN)
            if pidfd is not None:
                poller.register(pidfd, select.POLLIN)
            wait = remaining if pidfd is not None else min(remaining, 0.01)
            ready = {fd for fd, _events in poller.poll(max(1, int(wait * 1000) + 1))}
            if lines.fd in ready and not lines.fill():
                kill_group(pid)
                os.waitpid(pid, 0)
                os._exit(0)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    kill_group(pid)  # a timeout, or what the tests left running
    _, status = os.waitpid(pid, 0)
    return status, timed_out


def outcome(status: int, result: str, log: str) -> tuple[int, list[str], str]:
    """A waited-for child's exit code, the tests it failed and the tail of its log."""
    failed: list[str] = []
    try:
        with open(result, encoding="utf-8") as fh:
            failed = list(json.load(fh).get("failed", []))
    except (OSError, ValueError):
        pass
    rc = os.waitstatus_to_exitcode(status)
    if rc == 0 and not os.path.exists(result):
        rc = EXIT_UNFINISHED
    return rc, failed, _tail(log)


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - TAIL_BYTES))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
