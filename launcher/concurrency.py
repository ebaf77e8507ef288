"""Bounded fan-out inside one event loop: run a coroutine for each item, a few at a time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
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
