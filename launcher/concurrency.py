"""Bounded fan-out inside one event loop (run a coroutine for each item, a few at a time), and
an fcntl lock held across processes without blocking the loop."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

import anyio

from launcher import process_identity
from launcher.bounded_write import write_bounded

T = TypeVar("T")


async def each(items: Iterable[T], run: Callable[[T], Awaitable[object]], limit: int) -> None:
    """`await run(item)` for every item, at most `limit` at once; returns when all are done (the
    first exception cancels the rest and propagates, as in any anyio task group)."""
    limiter = anyio.CapacityLimiter(max(1, limit))

    async def one(item: T) -> None:
        async with limiter:
            await run(item)

    async with anyio.create_task_group() as group:
        for item in items:
            group.start_soon(one, item)


# How long a wait for a lock goes on before it says who holds it (a stopped holder), and before
# it says so for a holder that is merely busy (a long landing is normal: the wait goes on).
STOPPED_NOTE_AFTER_S = 3.0
BUSY_NOTE_AFTER_S = 60.0
_POLL_S = 0.02
_LOOK_EVERY_S = 1.0


def _say(text: str) -> None:
    """A note on stderr (stdout may be a JSON document): the wait is still going on. Written by a
    thread of its own: a stderr whose reader does not read never holds up the event loop (and with
    it a Ctrl-C or SIGTERM)."""
    write_bounded(2, f"launcher: {text}\n".encode(errors="replace"), grace_s=0)


Notify = Callable[[str], None]


def _holder(fd: int) -> tuple[int, int | None] | None:
    """The pid (and start time) the lock's holder wrote into the file, if it still runs."""
    try:
        words = os.pread(fd, 64, 0).split()
        pid = int(words[0])
        started = int(words[1]) if len(words) > 1 and words[1] != b"-" else None
    except (OSError, ValueError, IndexError):
        return None
    if pid == os.getpid() or not process_identity.alive(pid, started):
        return None
    return pid, started


def _command(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return ""
    words = [a.decode(errors="replace") for a in argv if a]
    if len(words) > 1 and Path(words[0]).name.startswith("python"):
        words = words[1:]  # the interpreter: the script it runs says more
    text = " ".join([Path(words[0]).name, *words[1:]]) if words else ""
    return f" ({text[:100]})" if text else ""


def _waiting_note(path: Path, pid: int, waited: float) -> str | None:
    """What to tell the user who has waited `waited` s for `path`, held by `pid`; None: nothing yet."""
    if process_identity.stopped(pid):
        if waited < STOPPED_NOTE_AFTER_S:
            return None
        return (
            f"waiting for the lock {path}, held by pid {pid}{_command(pid)}, which is stopped (state T: "
            f"suspended, e.g. by Ctrl-Z), so it will not let it go: continue it with `fg` in its terminal "
            f"or `kill -CONT {pid}`, or end it with `kill {pid}; kill -CONT {pid}`; this launcher goes on "
            "waiting (Ctrl-C stops it)"
        )
    if waited < BUSY_NOTE_AFTER_S:
        return None
    return (
        f"still waiting for the lock {path}, held by pid {pid}{_command(pid)}, which is at work; this "
        "launcher goes on waiting (Ctrl-C stops it)"
    )


@contextlib.asynccontextmanager
async def file_lock(path: Path, notify: Notify | None = None) -> AsyncIterator[None]:
    """An exclusive `flock` on `path` (created if missing), polled so the event loop never
    blocks on it; the descriptor is never inherited by a child (a runner started under it).
    The holder writes its pid (and start time) into the file, so that a wait that goes on names
    it: after a few seconds when the holder is stopped (Ctrl-Z: it would never let go; the note
    says how to continue it), after a minute when it is merely busy. The wait itself never gives
    up (a long landing is a legitimate holder); Ctrl-C stops it. `notify` says it (stderr)."""
    say = notify or _say
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        began = next_look = time.monotonic()
        said: set[tuple[int, bool]] = set()  # (holder, stopped) already told
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if now >= next_look:
                    next_look = now + _LOOK_EVERY_S
                    holder = _holder(fd)
                    if holder is not None:
                        key = (holder[0], process_identity.stopped(holder[0]))
                        note = None if key in said else _waiting_note(path, holder[0], now - began)
                        if note is not None:
                            said.add(key)
                            say(note)
                await anyio.sleep(_POLL_S)
        _record_holder(fd)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # no longer held by this process: name nobody
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@functools.lru_cache(maxsize=8)
def _started(pid: int) -> int | None:
    """A process's start time, read once: a lock is taken many times per task (keyed by pid, so
    a forked child reads its own)."""
    return process_identity.start_time(pid)


def _record_holder(fd: int) -> None:
    """Write this process into the lock file it now holds (best effort: a read-only file is fine)."""
    started = _started(os.getpid())
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {started if started is not None else '-'}\n".encode(), 0)
