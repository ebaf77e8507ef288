"""asyncio's children (agents, through `process.supervise`): watched through
pidfds by the running loop, not by a thread each (starting those threads stalled the event loop
under load)."""

from __future__ import annotations

import sys
import threading

import anyio
import pytest

from launcher import child_watcher

# On 3.11 through `child_watcher`, from 3.12 on by asyncio itself: the same promise on every Python.
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not child_watcher._pidfd_works(),
    reason="pidfds are Linux-only (without them asyncio watches each child with a thread)",
)


async def _exit_codes_and_peak_threads() -> tuple[list[int], int]:
    codes: list[int] = []
    peak = threading.active_count()

    child_watcher.install()  # as `process.supervise` does before it starts an agent

    async def one(code: int) -> None:
        argv = [sys.executable, "-c", f"import time, sys; time.sleep(0.3); sys.exit({code})"]
        done = await anyio.run_process(argv, check=False)  # an asyncio subprocess, like an agent's
        codes.append(done.returncode)

    async with anyio.create_task_group() as group:
        for code in range(12):
            group.start_soon(one, code)
        for _ in range(10):
            await anyio.sleep(0.05)
            peak = max(peak, threading.active_count())
    return sorted(codes), peak


def test_children_are_watched_without_a_thread_each_and_report_their_exit_codes() -> None:
    before = threading.active_count()
    codes, peak = anyio.run(_exit_codes_and_peak_threads)
    assert codes == list(range(12))
    assert peak <= before + 2, f"{peak - before} threads for 12 children"


def test_a_second_event_loop_in_the_same_process_still_sees_its_children_exit() -> None:
    # The stock 3.11 PidfdChildWatcher stays bound to the first loop it served.
    assert anyio.run(_exit_codes_and_peak_threads)[0] == list(range(12))
    assert anyio.run(_exit_codes_and_peak_threads)[0] == list(range(12))
