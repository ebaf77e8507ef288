"""After a short command's pipes close, its exit is waited for on a pidfd (no sleep-and-poll), and
the wait still ends at the deadline or the stop flag: a child that closes its pipes and goes on
running is neither taken for exited nor waited for past its time."""

from __future__ import annotations

import os
import select
import subprocess
import threading
import time

from launcher import process_threads

CLOSES_PIPES_THEN_SLEEPS = "exec >/dev/null 2>&1; sleep {}; exit 3"


def _start(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sh", "-c", CLOSES_PIPES_THEN_SLEEPS.format(seconds)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)


def test_a_child_that_closed_its_pipes_is_waited_for_until_it_exits() -> None:
    proc = _start(0.4)
    began = time.monotonic()
    timed_out = process_threads.collect(proc, lambda _b: None, lambda _b: None, None, threading.Event(), 5.0)
    assert not timed_out
    assert proc.returncode == 3
    assert time.monotonic() - began >= 0.35


def test_the_wait_for_its_exit_ends_at_the_deadline() -> None:
    proc = _start(30)
    try:
        began = time.monotonic()
        timed_out = process_threads.collect(proc, lambda _b: None, lambda _b: None, time.monotonic() + 0.5,
                                            threading.Event(), 5.0)
        assert timed_out
        assert time.monotonic() - began < 5
        assert proc.poll() is None  # still running: the caller kills its group
    finally:
        proc.kill()
        proc.wait()


def test_the_wait_for_its_exit_ends_when_stopped() -> None:
    proc = _start(30)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    try:
        assert process_threads.collect(proc, lambda _b: None, lambda _b: None, None, stop, 5.0) is False
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_an_exit_fd_is_readable_once_the_child_has_exited() -> None:
    proc = subprocess.Popen(["sh", "-c", "sleep 0.2"])
    fd = process_threads._exit_fd(proc.pid)
    try:
        if fd is None:  # a kernel without pidfds: the exit is polled instead
            return
        assert select.select([fd], [], [], 0)[0] == []
        assert select.select([fd], [], [], 5)[0] == [fd]
        assert proc.wait(1) == 0
    finally:
        if fd is not None:
            os.close(fd)
