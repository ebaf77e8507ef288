"""The order the queue lands in, a greedy heuristic: branches that conflict with no other
candidate first, then the conflicting ones, those with fewer conflict partners first (one task
conflicting with two others goes after them: two land instead of one); a task never goes
before a task it depends on, and otherwise the landing order (dependencies, then plan order)
decides. The partners are counted once, before anything lands, so this does not always land
the most tasks (0-2, 0-3, 0-4, 1-2, 1-3: it lands 4 and 1, where 2, 3, 4 would be three); a
task that conflicts with what landed is kept (`conflicted`) or sent back, never lost."""

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
