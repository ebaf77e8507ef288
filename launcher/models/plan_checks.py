"""Cross-checks of a plan whose keys are each valid: ids, dependencies, agents, cycles.

Every problem is collected and reported at once (one `PlanError`), each naming the task and key.
"""

from __future__ import annotations

from collections.abc import Collection

from launcher.errors import PlanError
from launcher.models.plan_schema import BUILTIN_ADAPTERS, Plan
from launcher.models.problems import Problem, did_you_mean, raise_problems


def _agent_fix(name: str, plan: Plan, repo_agents: Collection[str]) -> str:
    known = [*plan.agents, *repo_agents, *BUILTIN_ADAPTERS]
    hint = did_you_mean(name, known)
    choices = "name an [agents.<name>] entry or a built-in adapter: " + ", ".join(BUILTIN_ADAPTERS)
    return f"{hint} {choices}" if hint else choices


def plan_problems(plan: Plan, repo_agents: Collection[str] = ()) -> list[Problem]:
    """`repo_agents`: the agents the repository configures (launcher.toml or [tool.launcher]),
    which tasks may name besides the plan's own [agents] and the built-in adapters."""
    known_agents = {*plan.agents, *repo_agents, *BUILTIN_ADAPTERS}
    if not plan.tasks:
        return [Problem("", "the plan has no tasks", "plan_invalid:no_tasks", "add at least one [[task]]")]
    problems: list[Problem] = []
    seen: set[str] = set()
    for task in plan.tasks:
        if task.id in seen:
            problems.append(Problem(f"task {task.id!r}.id", f"task id {task.id!r} is used twice",
                                    "plan_invalid:duplicate_id", "give every task its own id"))
        seen.add(task.id)
    for task in plan.tasks:
        for dep in task.depends_on:
            if dep not in seen:
                hint = did_you_mean(dep, sorted(seen))
                problems.append(Problem(
                    f"task {task.id!r}.depends_on", f"depends on unknown task {dep!r}",
                    "plan_invalid:unknown_dependency",
                    (f"{hint} " if hint else "") + f"use one of: {', '.join(sorted(seen))}",
                ))
        for agent_name in task.attempt_agents:
            if agent_name not in known_agents:
                problems.append(Problem(f"task {task.id!r}.attempt_agents", f"unknown agent {agent_name!r}",
                                        "plan_invalid:unknown_agent", _agent_fix(agent_name, plan, repo_agents)))
        if task.agent not in known_agents:
            problems.append(Problem(f"task {task.id!r}.agent", f"unknown agent {task.agent!r}",
                                    "plan_invalid:unknown_agent", _agent_fix(task.agent, plan, repo_agents)))
    cycle = find_cycle({t.id: t.depends_on for t in plan.tasks})
    if cycle:
        problems.append(Problem(f"task {cycle[0]!r}.depends_on", "dependency cycle: " + " -> ".join(cycle),
                                "plan_invalid:dependency_cycle", "remove one of these depends_on entries"))
    return problems


def check_plan(plan: Plan, source: str, repo_agents: Collection[str] = ()) -> None:
    problems = plan_problems(plan, repo_agents)
    if problems:
        raise_problems(problems, source, PlanError, "see README, 'Plan format'")


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in the dependency graph as a path (first node repeated at the end), or None.
    Iterative, so a plan of thousands of chained tasks cannot exhaust the stack."""
    color: dict[str, int] = dict.fromkeys(graph, 0)
    for root in graph:
        if color[root]:
            continue
        path: list[str] = [root]
        pending: list[list[str]] = [list(graph.get(root, []))]
        color[root] = 1
        while path:
            if not pending[-1]:
                color[path.pop()] = 2
                pending.pop()
                continue
            nxt = pending[-1].pop(0)
            if color.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if color.get(nxt) == 0:
                color[nxt] = 1
                path.append(nxt)
                pending.append(list(graph.get(nxt, [])))
    return None
