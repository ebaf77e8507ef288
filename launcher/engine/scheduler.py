"""The dependency DAG on an anyio task group, bounded by --max-parallel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio


@dataclass(frozen=True)
class Node:
    id: str
    depends_on: tuple[str, ...]


async def run_dag(
    nodes: list[Node],
    work: Callable[[str], Awaitable[bool]],
    *,
    max_parallel: int,
    on_skip: Callable[[str, str], Awaitable[None]],
    refuse_start: Callable[[str], str | None] = lambda _id: None,
    done: dict[str, bool] | None = None,
    wait_only: frozenset[str] = frozenset(),
    alongside: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, bool]:
    """Run `work(id)` for every node once its dependencies succeeded.

    `work` returns True when its node succeeded. A node whose dependency failed, or that
    `refuse_start` gives a reason not to start (e.g. the budget is spent), is passed to
    `on_skip(id, reason)` instead.
    `done` pre-seeds results of nodes finished earlier (resume). Nodes in `wait_only` start
    once their dependencies finished, whatever the outcome (best-of-N selection).
    `alongside`: a coroutine run while nodes run (a watcher), cancelled once the last is done.
    """
    results: dict[str, bool] = dict(done or {})
    finished = {node.id: anyio.Event() for node in nodes}
    for node_id in results:
        if node_id in finished:
            finished[node_id].set()
    limiter = anyio.CapacityLimiter(max_parallel)

    async def one(node: Node) -> None:
        try:
            for dep in node.depends_on:
                await finished[dep].wait()
            failed = [dep for dep in node.depends_on if not results.get(dep)]
            if failed and node.id not in wait_only:
                results[node.id] = False
                await on_skip(node.id, f"dependency {failed[0]!r} did not succeed")
                return
            async with limiter:
                refusal = refuse_start(node.id)
                if refusal:
                    results[node.id] = False
                    await on_skip(node.id, refusal)
                    return
                results[node.id] = await work(node.id)
        finally:
            results.setdefault(node.id, False)
            finished[node.id].set()

    async def watch(job: Callable[[], Awaitable[None]]) -> None:
        async def run_job() -> None:
            await job()

        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as inner:
                inner.start_soon(run_job)
                for event in finished.values():
                    await event.wait()
                scope.cancel()

    async with anyio.create_task_group() as tg:
        for node in nodes:
            if node.id not in results:
                tg.start_soon(one, node)
        if alongside is not None and not all(event.is_set() for event in finished.values()):
            tg.start_soon(watch, alongside)
    return results
