"""The blocking halves of `process.run`, which run in worker threads.

Starting a child blocks its caller until the child has called `exec` (CPython uses vfork). On a
busy machine that can take milliseconds per child, and a run starts hundreds of short git
commands: done on the event loop, every task would wait while each one starts. So a short
command is started, and its pipes read, in a worker thread; `process.run` keeps the rules
(session, journal, timeout, SIGTERM then SIGKILL of the group) on the loop.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import select
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

_POLL_S = 0.05  # how often a reader looks at the leader (exited?) and the stop flag

# Children being started: from before the fork until their group is registered as the launcher's
# own (`process.tracked_groups`). In between, a child runs (its exec done) unknown to the reaper,
# which waits for the starts under way when it looked (`wait_for_starts`) before it takes a child
# it does not know for an orphan. Each start has a token of its own: in a busy run some child is
# always starting, so waiting for "none starting" would wait for nothing but time.
_IN_FLIGHT: set[int] = set()
_FLIGHT = threading.Condition()
_TOKENS = itertools.count()


@contextlib.contextmanager
def starting() -> Iterator[None]:
    """Around starting a child and registering its group (also across an `await`)."""
    token = next(_TOKENS)
    with _FLIGHT:
        _IN_FLIGHT.add(token)
    try:
        yield
    finally:
        with _FLIGHT:
            _IN_FLIGHT.discard(token)
            _FLIGHT.notify_all()


def children_starting() -> bool:
    """A child is being started whose group is not registered yet."""
    return bool(_IN_FLIGHT)


def starts_in_flight() -> frozenset[int]:
    """The starts under way now (their tokens): every child forked before this call whose group
    is not registered yet belongs to one of them."""
    with _FLIGHT:
        return frozenset(_IN_FLIGHT)


def wait_for_starts(tokens: frozenset[int], timeout: float) -> bool:
    """Wait until each of `tokens` has registered its child (or failed to start one); starts
    begun later are not waited for. False when `timeout` passed first."""
    deadline = time.monotonic() + timeout
    with _FLIGHT:
        while tokens & _IN_FLIGHT:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _FLIGHT.wait(left)
    return True


def spawn(
    argv: Sequence[str], cwd: Path | str | None, env: Mapping[str, str] | None,
    started: Callable[[subprocess.Popen[bytes]], None], stdin_from: Path | None = None,
) -> None:
    """Start `argv` in its own session with stdin closed (or reading the file `stdin_from`);
    `started` gets it at once (so that a caller cancelled meanwhile still finds the child to kill)."""
    with contextlib.ExitStack() as stack, starting():
        stdin = stack.enter_context(stdin_from.open("rb")) if stdin_from is not None else subprocess.DEVNULL
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env) if env is not None else None,
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        started(proc)


def collect(
    proc: subprocess.Popen[bytes], on_stdout: Callable[[bytes], None], on_stderr: Callable[[bytes], None],
    deadline: float | None, stop: threading.Event, drain_after_exit_s: float, idle_s: float | None = None,
) -> bool:
    """Feed both pipes to their sinks until both close, then reap the leader. Once the leader has
    exited, what is left of its group is killed (an orphan would hold the pipes open) and reading
    stops `drain_after_exit_s` later at most. Returns True when `deadline` passed first; returns
    early when `stop` is set (the caller was cancelled). Closes the pipes in every case. With
    `idle_s`, each chunk read moves `deadline` to `idle_s` after its sink returned: the limit is
    then on the child's silence while it is read, never on the time a sink waits for a slow reader
    of its own (the child, meanwhile blocked on a full pipe, is not stuck)."""
    selector = selectors.DefaultSelector()
    pipes = [(proc.stdout, on_stdout), (proc.stderr, on_stderr)]
    try:
        for pipe, sink in pipes:
            if pipe is not None:
                os.set_blocking(pipe.fileno(), False)
                selector.register(pipe, selectors.EVENT_READ, sink)
        exited_at: float | None = None
        while selector.get_map():
            now = time.monotonic()
            if stop.is_set():
                return False
            # The child's exit first, the deadline after: a child that finished while this
            # thread did not run (the launcher suspended by Ctrl-Z, the machine asleep) is judged
            # by its exit status and what it printed, never taken for one that ran out of time.
            if exited_at is None and proc.poll() is not None:
                exited_at = now
                _kill_group(proc.pid)
            if exited_at is not None and now - exited_at >= drain_after_exit_s:
                break
            if exited_at is None and deadline is not None and now >= deadline:
                return True
            wait = _POLL_S if deadline is None or exited_at is not None else max(0.0, min(_POLL_S, deadline - now))
            for key, _events in selector.select(wait):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if chunk:
                    key.data(chunk)
                    if idle_s is not None:
                        deadline = time.monotonic() + idle_s
                else:
                    selector.unregister(key.fileobj)
        exit_fd = _exit_fd(proc.pid)
        try:
            while proc.poll() is None:  # both pipes closed: the leader is exiting (or closed them)
                if stop.is_set():
                    return False
                now = time.monotonic()
                if deadline is not None and now >= deadline and proc.poll() is None:
                    return True
                wait = _POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - now))
                if exit_fd is not None:  # readable once it has exited: no sleep-and-poll latency
                    wait_readable(exit_fd, wait)
                    continue
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    continue
        finally:
            if exit_fd is not None:
                os.close(exit_fd)
        _kill_group(proc.pid)
        return False
    finally:
        selector.close()
        for pipe, _sink in pipes:
            if pipe is not None:
                pipe.close()


def wait_readable(fd: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `fd` to be readable (or closed, in error). poll(), never
    select(): select() refuses a descriptor >= FD_SETSIZE (1024), which a launcher holding many
    files (a big run's pipes, logs and pidfds, under a raised open-file limit) hands out."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, math.ceil(timeout * 1000))))


def _exit_fd(pid: int) -> int | None:
    """A pidfd of the child (Linux 5.3+), readable once it has exited; None where there is none
    (then its exit is polled, which costs a millisecond or two per short command)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, signal.SIGKILL)
