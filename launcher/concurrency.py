"""Bounded fan-out inside one event loop (run a coroutine for each item, a few at a time), and
an fcntl lock held across processes without blocking the loop."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

import anyio

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


@contextlib.asynccontextmanager
async def file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive `flock` on `path` (created if missing), polled so the event loop never
    blocks on it; the descriptor is never inherited by a child (a runner started under it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await anyio.sleep(0.02)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
