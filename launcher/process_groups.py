"""The process groups the launcher started: signalling one, telling whether one still runs, and the
set of groups not ended yet, which an interrupted launcher kills (`kill_all_live_groups`).

Every child runs in its own session, so its group is its pid; `launcher.process` starts them and
registers each here before anything else runs.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import time

import anyio

from launcher import process_threads

_LIVE_GROUPS: set[int] = set()
_KILL_WAIT_S = 1.0


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a process group; False if it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def pid_alive(pid: int) -> bool:
    """Whether a process exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs. Zombies do not count: a killed process stays
    a zombie until its parent (often an init that reaps lazily, or none at all) collects it, and
    it can neither run nor hold a pipe open."""
    if not signal_group(pgid, 0):
        return False
    live = _group_has_live_member(pgid)
    return True if live is None else live


def _group_has_live_member(pgid: int) -> bool | None:
    """Linux: whether a non-zombie process has process group `pgid`; None if /proc cannot tell."""
    try:
        if os.readlink("/proc/self") != str(os.getpid()):  # /proc of another pid namespace
            return None
        entries = os.listdir("/proc")
    except OSError:
        return None
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] not in (b"Z", b"X"):
            return True
    return False


def children_starting() -> bool:
    """A child is being started whose group is not registered yet (`tracked_groups`)."""
    return process_threads.children_starting()


def starts_in_flight() -> frozenset[int]:
    """The starts under way now (`process_threads.starts_in_flight`)."""
    return process_threads.starts_in_flight()


def wait_for_starts(tokens: frozenset[int], timeout: float) -> bool:
    """Wait for those starts to register their children (`process_threads.wait_for_starts`)."""
    return process_threads.wait_for_starts(tokens, timeout)


def tracked_groups() -> set[int]:
    """The groups started here and not ended yet (each led by the child that was started)."""
    return set(_LIVE_GROUPS)


def own_children() -> set[int] | None:
    """The children this process started and has not collected yet: every `subprocess.Popen`
    (asyncio's too) not yet waited for, and the groups tracked here. None while one is being
    started (its pid is not known yet): then no other child can be told apart from it."""
    own = tracked_groups()
    for found in gc.get_objects():
        if isinstance(found, subprocess.Popen) and found.returncode is None:
            if found.pid is None:
                return None
            own.add(found.pid)
    return own


def track_group(pgid: int) -> None:
    """Register a group started outside `run`/`supervise` (a long-lived worker and its forks), so
    that an interrupted launcher kills it too."""
    _LIVE_GROUPS.add(pgid)


def untrack_group(pgid: int) -> None:
    _LIVE_GROUPS.discard(pgid)


def kill_all_live_groups() -> None:
    """Last resort on interpreter exit or a fatal signal: nothing we started may outlive us."""
    for pgid in list(_LIVE_GROUPS):
        signal_group(pgid, signal.SIGKILL)
    _LIVE_GROUPS.clear()


async def terminate_group(pgid: int, grace_s: float) -> None:
    """SIGTERM the group, wait up to `grace_s` for it to vanish, then SIGKILL it.

    Returns once no process of the group runs any more (or, for a process stuck in the kernel
    that even SIGKILL cannot end at once, after a bounded wait)."""
    if not signal_group(pgid, signal.SIGTERM):
        return
    if await _wait_group_gone(pgid, grace_s):
        return
    signal_group(pgid, signal.SIGKILL)
    await _wait_group_gone(pgid, _KILL_WAIT_S)


async def _wait_group_gone(pgid: int, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        await anyio.sleep(0.02)
    return True
