"""The order the queue lands in, so that the most tasks land: branches that conflict with no
other candidate first, then the conflicting ones, those with fewer partners first (one task
conflicting with two others goes after them: two land instead of one); a task never goes
before a task it depends on, and otherwise the landing order (dependencies, then plan order)
decides."""

from __future__ import annotations

from collections.abc import Mapping


def queue_order(order: list[str], depends_on: Mapping[str, list[str]],
                partners: Mapping[str, set[str]]) -> list[str]:
    """`order`: the dependency-then-plan order; `partners`: task -> tasks it conflicts with."""
    rank = {task_id: n for n, task_id in enumerate(order)}
    placed: set[str] = set()
    result: list[str] = []
    pending = list(order)
    while pending:
        ready = [t for t in pending if all(d in placed or d not in rank for d in depends_on.get(t, []))]
        if not ready:  # cycles are refused when a plan is loaded; keep the given order anyway
            ready = pending
        chosen = min(ready, key=lambda t: (len(partners.get(t, ())), rank[t]))
        result.append(chosen)
        placed.add(chosen)
        pending.remove(chosen)
    return result
