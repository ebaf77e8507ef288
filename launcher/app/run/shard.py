"""`launcher run --shard I/N`: this CI job's share of a plan.

The split is deterministic (every job computes the same one from the same plan) and keeps each
group of tasks linked by `depends_on` (or best-of-N attempts) together: a group goes to the
shard given by a stable hash of its first task id, so adding a task elsewhere moves no group.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from launcher.errors import UsageProblem
from launcher.models.plan import Plan

# ASCII digits only: `int()` also reads other scripts' digits, which a manifest would then carry.
_SHARD = re.compile(r"^\s*([0-9]+)\s*/\s*([0-9]+)\s*$", re.ASCII)
MAX_SHARDS = 10_000  # shards of one plan (a CI matrix has at most a few hundred jobs)


def parse_shard(text: str, *, bounded: bool = True) -> tuple[int, int]:
    """`I/N` with 1 <= I <= N, as a CI matrix numbers its jobs; `bounded`: N at most MAX_SHARDS,
    which is all `land --from` takes (refused here, before a shard job runs its agents, rather
    than by the final job, after every shard's work is done)."""
    found = _SHARD.match(text)
    index, count = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    if not found or count < 1 or not 1 <= index <= count:
        raise UsageProblem(f"--shard {text!r} is not I/N with 1 <= I <= N",
                           fix="for example: --shard 2/4 (the second of four jobs)")
    if bounded and count > MAX_SHARDS:
        raise UsageProblem(f"--shard {text[:40]!r} splits the plan into more than {MAX_SHARDS} shards, which "
                           "`launcher land --from` does not take",
                           fix=f"split it into at most {MAX_SHARDS} shards (one per CI job), "
                               "for example: --shard 2/4")
    return index, count


def plan_digest(plan: Plan) -> str:
    """Identifies the whole plan, so that `land --from` refuses exports of different plans."""
    return digest_of(plan.model_dump(mode="json", by_alias=True))


def digest_of(data: dict[str, Any]) -> str:
    """`plan_digest` of a plan as dumped to JSON (an export's manifest embeds that dump)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def groups(plan: Plan) -> list[list[str]]:
    """Tasks linked by depends_on / select_from, each group in plan order."""
    parent = {t.id: t.id for t in plan.tasks}

    def find(task_id: str) -> str:
        while parent[task_id] != task_id:
            parent[task_id] = parent[parent[task_id]]
            task_id = parent[task_id]
        return task_id

    for spec in plan.tasks:
        for other in [*spec.depends_on, *(spec.select_from or [])]:
            if other in parent:
                parent[find(other)] = find(spec.id)
    members: dict[str, list[str]] = {}
    for spec in plan.tasks:
        members.setdefault(find(spec.id), []).append(spec.id)
    return list(members.values())


def shard_of(group: list[str], count: int) -> int:
    digest = hashlib.sha256(group[0].encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select_shard(plan: Plan, index: int, count: int) -> Plan:
    """The plan restricted to shard `index` of `count` (possibly with no task at all)."""
    mine = {task_id for group in groups(plan) if shard_of(group, count) == index for task_id in group}
    return plan.model_copy(update={"tasks": [t for t in plan.tasks if t.id in mine]})


async def sharded(plan: Plan, text: str) -> Plan:
    """`--shard I/N` applied to a plan (async, so the CLI reports a bad value like any error)."""
    index, count = parse_shard(text)
    return select_shard(plan, index, count)
