"""The reaper waits for the child starts under way when it looked, never for starts begun later.

In a busy run some child (a git command) is always being started; a sweep that waited until no
child was starting waited its whole budget after every round of every task, one sweep at a time.
"""

from __future__ import annotations

import os
import threading
import time

from launcher import process_threads
from launcher.engine import reaper


def test_a_wait_ends_when_the_starts_it_saw_are_done_not_later_ones() -> None:
    seen_start, later_start = threading.Event(), threading.Event()
    release_seen, release_later = threading.Event(), threading.Event()

    def hold(begun: threading.Event, release: threading.Event) -> None:
        with process_threads.starting():
            begun.set()
            release.wait(5)

    threading.Thread(target=hold, args=(seen_start, release_seen)).start()
    assert seen_start.wait(5)
    pending = process_threads.starts_in_flight()
    assert pending
    threading.Thread(target=hold, args=(later_start, release_later)).start()
    assert later_start.wait(5)
    try:
        assert process_threads.wait_for_starts(pending, 0.05) is False  # the seen start still runs
        threading.Timer(0.05, release_seen.set).start()
        began = time.monotonic()
        assert process_threads.wait_for_starts(pending, 5.0) is True  # the later one is still held
        assert time.monotonic() - began < 2.0
        assert process_threads.children_starting()
    finally:
        release_seen.set()
        release_later.set()


def test_sweeps_do_not_wait_out_a_stream_of_starts() -> None:
    stop = threading.Event()

    def churn() -> None:  # overlapping starts: at every moment one is under way
        while not stop.is_set():
            with process_threads.starting():
                time.sleep(0.01)

    workers = [threading.Thread(target=churn) for _ in range(2)]
    for worker in workers:
        worker.start()
    stranger = (999_999_999, (b"S", os.getpid(), 999_999_999))  # not a child the launcher started
    try:
        time.sleep(0.02)
        began = time.monotonic()
        for _ in range(30):
            assert reaper._not_tracked([stranger]) == [stranger]
        took = time.monotonic() - began
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    # waiting for "no start under way" took the whole budget (5 x 20 ms) every time: >= 2.4 s
    assert took < 1.0, f"30 looks took {took:.2f}s"
