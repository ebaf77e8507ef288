"""Cross-checks of a plan whose keys are each valid: ids, dependencies, agents, cycles.

Every problem is collected and reported at once (one `PlanError`), each naming the task and key.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from launcher.errors import PlanError
from launcher.models.agent_keys import permission_mode_problem
from launcher.models.plan_schema import BUILTIN_ADAPTERS, AgentConfig, Plan, Task
from launcher.models.problems import Problem, did_you_mean, raise_problems

# Adapters that run the program an [agents.<name>] entry names: never usable by their bare name.
NEEDS_COMMAND = ("command", "acp")
RUNNABLE_BY_NAME = tuple(a for a in BUILTIN_ADAPTERS if a not in NEEDS_COMMAND)
CLI_ADAPTERS = ("claude", "codex", "gemini", "aider", "opencode", "acp")
_COMMAND_EXAMPLE = {"command": 'command = ["python3", "tools/bot.py", "{prompt}"]',
                    "acp": 'command = ["your-agent", "--acp"]'}


def _agent_fix(name: str, plan: Plan, repo_agents: Collection[str]) -> str:
    known = [*plan.agents, *repo_agents, *BUILTIN_ADAPTERS]
    hint = did_you_mean(name, known)
    choices = "name an [agents.<name>] entry or a built-in adapter: " + ", ".join(RUNNABLE_BY_NAME)
    return f"{hint} {choices}" if hint else choices


def command_problems(agents: Mapping[str, AgentConfig], key: str = "plan_invalid") -> list[Problem]:
    """A `command` or `acp` agent without its program: a plan (or config) error, not a missing CLI.
    An entry that sets no `adapter` is a command agent by default: one named after a built-in
    adapter (`[agents.claude] model = "opus"`) is told to add that adapter, not a command."""
    problems = []
    for name, agent in agents.items():
        if agent.adapter not in NEEDS_COMMAND or agent.command is not None:
            continue
        if "adapter" not in agent.model_fields_set:
            problems.append(_no_adapter_problem(name, key))
            continue
        problems.append(Problem(f"agents.{name}.command", f"the {agent.adapter} adapter runs the program "
                                f"`command` names, and agents.{name} has no command", f"{key}:missing_command",
                                f"add {_COMMAND_EXAMPLE[agent.adapter]}"))
        mode = agent.permission_mode  # not checked with the schema while the command was missing
        if mode is not None and (problem := permission_mode_problem(agent.adapter, mode)):
            problems.append(Problem(f"agents.{name}.permission_mode", problem, key))
    return problems


def _no_adapter_problem(name: str, key: str) -> Problem:
    """An entry with neither `adapter` nor `command`: which adapter its name suggests, if any."""
    named = [a for a in RUNNABLE_BY_NAME if a in name.lower()]
    what = (f"agents.{name} sets no adapter, so it is a command agent (the default), which runs the program "
            "`command` names, and it has no command")
    if named:
        adapter = max(named, key=len)  # "scripted-grader" before "scripted"
        fix = (f'add adapter = "{adapter}" to run the built-in {adapter} adapter (or, for a program of your '
               f"own, {_COMMAND_EXAMPLE['command']})")
    else:
        fix = (f"add adapter = \"<name>\" naming the agent's CLI ({', '.join(CLI_ADAPTERS)}), or, for a program "
               f"of your own, {_COMMAND_EXAMPLE['command']}")
    return Problem(f"agents.{name}.adapter", what, f"{key}:missing_adapter", fix)


def _bare_adapter_problems(task: Task, defined: Collection[str]) -> list[Problem]:
    """A task naming the `command` or `acp` adapter itself, which has no program to run."""
    return [Problem(f"task {task.id!r}.{field}", f"{name!r} is an adapter that needs a command, not an agent",
                    "plan_invalid:missing_command",
                    f'define [agents.<name>] with adapter = "{name}" and {_COMMAND_EXAMPLE[name]}, and name it')
            for field, names in (("agent", [task.agent]), ("attempt_agents", task.attempt_agents))
            for name in dict.fromkeys(names) if name in NEEDS_COMMAND and name not in defined]


def _adapter_of(name: str, plan: Plan, repo_agents: Collection[str]) -> str | None:
    """The adapter agent `name` runs: the plan's own [agents] entry, else the repository's (known
    when `repo_agents` maps names to their config), else a built-in adapter named as itself."""
    if name in plan.agents:
        return plan.agents[name].adapter
    if isinstance(repo_agents, Mapping) and isinstance(repo_agents.get(name), AgentConfig):
        return str(repo_agents[name].adapter)
    return name if name in BUILTIN_ADAPTERS and name not in repo_agents else None


def _ignored_script_problems(task: Task, plan: Plan, repo_agents: Collection[str]) -> list[Problem]:
    """Only the built-in scripted agent runs a task's `script`: on any other agent the steps would
    be dropped without a word and the agent run on the prompt instead (a workflow's `--scripts`
    on roles mapped to a CLI agent: every phase "produced nothing")."""
    if not task.script or any(task.id in other.select_from for other in plan.tasks):
        return []  # a best-of attempt: its task was checked with all of its agents
    agents = task.attempt_agents or [task.agent]  # a script is for its scripted attempts
    adapters = [_adapter_of(name, plan, repo_agents) for name in agents]
    if None in adapters or "scripted" in adapters:
        return []
    named = ", ".join(f"agent {name!r} (adapter {adapter})"
                      for name, adapter in dict(zip(agents, adapters, strict=True)).items())
    return [Problem(f"task {task.id!r}.script",
                    f"the task has script steps, but {named} does not run them: only the built-in scripted "
                    "agent does", "plan_invalid:script_ignored",
                    'set agent = "scripted" on the task, or remove its script (in a workflow: map the role to '
                    '"scripted" under [roles] in launcher.toml, or leave it out of --scripts)')]


def plan_problems(plan: Plan, repo_agents: Collection[str] = ()) -> list[Problem]:
    """`repo_agents`: the agents the repository configures (launcher.toml or [tool.launcher]),
    which tasks may name besides the plan's own [agents] and the built-in adapters."""
    known_agents = {*plan.agents, *repo_agents, *BUILTIN_ADAPTERS}
    if not plan.tasks:
        return [Problem("", "the plan has no tasks", "plan_invalid:no_tasks", "add at least one [[task]]")]
    problems: list[Problem] = command_problems(plan.agents)
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
        problems += _bare_adapter_problems(task, {*plan.agents, *repo_agents})
        problems += _ignored_script_problems(task, plan, repo_agents)
    graph = {t.id: t.depends_on for t in plan.tasks}
    for knot in tangled_groups(graph):  # every cycle's tasks at once, one problem per knot
        cycle = cycle_through(knot, graph)
        what = "dependency cycle: " + " -> ".join(cycle)
        if len(knot) > len(cycle) - 1:
            what += f" (tasks {', '.join(knot)} all wait on one another: more than one cycle)"
        problems.append(Problem(f"task {cycle[0]!r}.depends_on", what, "plan_invalid:dependency_cycle",
                                "remove one of these depends_on entries"))
    return problems


def check_plan(plan: Plan, source: str, repo_agents: Collection[str] = (),
               more: Callable[[Plan], list[Problem]] | None = None) -> None:
    """`more`: the caller's own checks of the plan (its grader, its rubrics), reported with these."""
    problems = plan_problems(plan, repo_agents) + (more(plan) if more else [])
    if problems:
        raise_problems(problems, source, PlanError, "see README, 'Plan format'")


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in the dependency graph as a path (first node repeated at the end), or None: the
    one through the first task of the first group of `tangled_groups`."""
    groups = tangled_groups(graph)
    return cycle_through(groups[0], graph) if groups else None


def tangled_groups(graph: dict[str, list[str]]) -> list[list[str]]:
    """The groups of tasks that wait on one another (strongly connected components with a cycle:
    two or more tasks, or one that depends on itself), each in the graph's order, the groups in
    the order of their first task. Tarjan's algorithm, iterative (thousands of chained tasks)."""
    order = {node: i for i, node in enumerate(graph)}
    edges = {node: [d for d in deps if d in graph] for node, deps in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            deps = edges[node]
            if child < len(deps):
                work.append((node, child + 1))
                nxt = deps[child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:  # back in the caller: its low link takes this one's
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in edges[node]:
                    groups.append(sorted(group, key=order.__getitem__))
    return sorted(groups, key=lambda group: order[group[0]])


def cycle_through(group: list[str], graph: dict[str, list[str]]) -> list[str]:
    """A shortest cycle from the group's first task back to it, within the group (first task
    repeated at the end)."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in graph.get(node, []):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if nxt in members and nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start!r} in its own group")
