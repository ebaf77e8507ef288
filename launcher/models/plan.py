"""The plan: tasks for specialists, named agent configs and run settings (TOML, YAML or JSON)."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from launcher.errors import PlanError
from launcher.models.ids import task_id_problem

AdapterName = Literal[
    "command", "scripted", "scripted-grader", "scripted-judge", "claude", "codex", "gemini", "aider", "opencode",
    "acp",
]
BUILTIN_ADAPTERS: tuple[str, ...] = get_args(AdapterName)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_names(names: list[str]) -> list[str]:
    """A list of environment variable names a plan passes through: names only, never GIT_*
    (they would point a command's git at the main repository) or LAUNCHER_* (set by us)."""
    for name in names:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an environment variable name (letters, digits, _)")
        if name.startswith(("GIT_", "LAUNCHER_")):
            raise ValueError(f"{name!r} cannot be passed through: GIT_* and LAUNCHER_* are never inherited")
    return names


class AgentConfig(Strict):
    adapter: AdapterName = "command"
    command: list[str] | None = None
    model: str | None = None
    extra_args: list[str] = Field(default_factory=list)
    env: list[str] = Field(default_factory=list, description="parent variables to pass through")
    set_env: dict[str, str] = Field(default_factory=dict, description="variables to set")
    permission_mode: str | None = None
    max_turns: int | None = None
    budget_usd: float | None = None
    timeout_s: float | None = None
    inactivity_timeout_s: float | None = None


class ScriptStep(Strict):
    """One action of the built-in scripted agent. Exactly one action key per step."""

    write: str | None = None  # path; with `content`
    append: str | None = None  # path; with `content`
    replace: str | None = None  # path; with `old` and `new`
    delete: str | None = None  # path
    content: str | None = None
    old: str | None = None
    new: str | None = None
    sleep: float | None = None
    spawn_sleeper: float | None = None  # starts a grandchild that sleeps (tests kill paths)
    flood_mb: float | None = None  # prints this many MiB to stdout
    exit: int | None = None
    say: str | None = None  # prints a line
    commit: str | None = None  # commits everything with this message
    run: list[str] | None = None  # runs this argv in the worktree (no shell); fails the agent if it fails
    contract: dict[str, Any] | None = None  # fields merged into the written contract
    no_contract: bool | None = None  # write no contract at all
    raw_contract: str | None = None  # write this exact text as the contract
    rounds: list[int] | None = None  # only on these iterations (1-based); default all
    attempts: list[int] | None = None  # only on these process attempts of the task (1-based)

    def action(self) -> str:
        keys = [
            k
            for k in (
                "write", "append", "replace", "delete", "sleep", "spawn_sleeper", "flood_mb",
                "exit", "say", "commit", "run", "contract", "no_contract", "raw_contract",
            )
            if getattr(self, k) is not None
        ]
        if len(keys) != 1:
            raise ValueError(f"a script step needs exactly one action, got {keys or 'none'}")
        return keys[0]


class Task(Strict):
    id: str
    title: str = ""
    role: str = "general"
    agent: str = "scripted"
    prompt: str = ""
    depends_on: list[str] = Field(default_factory=list)
    rubrics: list[str] = Field(default_factory=list)
    scope: list[str] = Field(default_factory=list)
    timeout_s: float | None = None
    inactivity_timeout_s: float | None = None
    budget_usd: float | None = None
    checks: list[str] = Field(default_factory=list)
    check_env: list[str] = Field(default_factory=list)  # parent variables its checks/setup see
    setup: str | None = None
    script: list[ScriptStep] = Field(default_factory=list)
    epic: str | None = None
    attempts: int = Field(default=1, ge=1, le=16)  # best-of-N: K attempts in parallel worktrees
    attempt_agents: list[str] = Field(default_factory=list)  # agent per attempt (cycled)
    select_from: list[str] = Field(default_factory=list)  # set by expansion: the attempts to pick from
    kind: Literal["feature", "bug", "chore"] = "feature"  # "bug" adds the bugfix rubric

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        problem = task_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    _check_env = field_validator("check_env")(env_names)

    @field_validator("script")
    @classmethod
    def _one_action(cls, steps: list[ScriptStep]) -> list[ScriptStep]:
        for step in steps:
            step.action()
        return steps


class RunSettings(Strict):
    base: str = "HEAD"
    into: str | None = None
    max_parallel: int = Field(default=4, ge=1, le=256)
    merge: bool = True
    strategy: Literal["merge", "squash", "rebase"] = "merge"
    integration_check: str | None = None
    batch: int | None = Field(default=None, ge=1)  # overrides [merge] batch of launcher.toml
    on_conflict: Literal["agent", "keep"] | None = None  # overrides [merge] on_conflict
    setup: str | None = None
    # Parent variables that checks, setup, rubric checks and the integration check may see,
    # besides the agents' allowlist (PATH, HOME, ...).
    check_env: list[str] = Field(default_factory=list)
    timeout_s: float | None = None
    inactivity_timeout_s: float | None = None
    budget_usd: float | None = Field(default=None, ge=0)  # run-wide: no new task once spent
    grader: str | None = None  # an agent name; overrides [grading] grader of launcher.toml
    iteration_cap: int | None = Field(default=None, ge=1)
    on_cap: Literal["approve", "tech-debt", "defer"] | None = None  # decide escalations unattended

    _check_env = field_validator("check_env")(env_names)


class Plan(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    run: RunSettings = Field(default_factory=RunSettings)
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    tasks: list[Task] = Field(default_factory=list, alias="task")

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)

    def agent_config(self, name: str) -> AgentConfig:
        if name in self.agents:
            return self.agents[name]
        return AgentConfig(adapter=name)  # type: ignore[arg-type]


def _location(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    for index, item in enumerate(loc):
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]"
            # Name the task by id when we can: "task[2] (id 'api')".
            if index == 1 and loc[0] in ("task", "tasks"):
                tasks = data.get(loc[0]) or []
                if item < len(tasks) and isinstance(tasks[item], dict) and "id" in tasks[item]:
                    parts[-1] += f" (id {tasks[item]['id']!r})"
        else:
            parts.append(str(item))
    return ".".join(parts)


def validate_plan(data: dict[str, Any], source: str, repo_agents: Collection[str] = ()) -> Plan:
    """Build and cross-check a plan; every problem names the task and the key.

    `repo_agents`: the agents the repository configures (launcher.toml or [tool.launcher]),
    which tasks may name besides the plan's own [agents] and the built-in adapters."""
    if not isinstance(data, dict):
        raise PlanError("the plan must be a table/object at the top level", where=source)
    if "tasks" in data and "task" not in data:
        data = {**data, "task": data.pop("tasks")}
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = f"{source}: {_location(tuple(first['loc']), data)}"
        raise PlanError(
            first["msg"].removeprefix("Value error, "),
            where=where,
            fix="correct that key (see README, 'Plan format')",
            error_key=f"plan_invalid:{first['type']}",
        ) from None
    check_plan(plan, source, repo_agents)
    return expand_attempts(plan, source, repo_agents)


def attempt_id(task_id: str, k: int) -> str:
    return f"{task_id}.attempt-{k}"


def expand_attempts(plan: Plan, source: str, repo_agents: Collection[str] = ()) -> Plan:
    """Best-of-N: a task with `attempts = K` becomes K attempt tasks plus a selecting task.

    The attempts are ordinary tasks (own worktree, branch, checks, grading) with the original's
    dependencies; the original keeps its id, depends only on its attempts, runs no agent, and
    adopts the winner's branch, so its dependents and the landing see one task.
    """
    expanded: list[Task] = []
    for task in plan.tasks:
        if task.attempts == 1 or task.select_from:
            expanded.append(task)
            continue
        ids = [attempt_id(task.id, k) for k in range(1, task.attempts + 1)]
        for k, aid in enumerate(ids):
            problem = task_id_problem(aid)
            if problem:
                raise PlanError(problem, where=f"{source}: task {task.id!r}.attempts",
                                fix="use a shorter task id for a best-of-N task")
            agent = task.attempt_agents[k % len(task.attempt_agents)] if task.attempt_agents else task.agent
            expanded.append(task.model_copy(update={
                "id": aid, "agent": agent, "attempts": 1, "attempt_agents": [],
                "title": f"{task.title or task.id} (attempt {k + 1})",
            }))
        expanded.append(task.model_copy(update={"depends_on": ids, "select_from": ids}))
    if len(expanded) == len(plan.tasks):
        return plan
    result = plan.model_copy(update={"tasks": expanded})
    check_plan(result, source, repo_agents)
    return result
    return plan


def check_plan(plan: Plan, source: str, repo_agents: Collection[str] = ()) -> None:
    if not plan.tasks:
        raise PlanError("the plan has no tasks", where=source, fix="add at least one [[task]]")
    seen: set[str] = set()
    for task in plan.tasks:
        if task.id in seen:
            raise PlanError(
                f"task id {task.id!r} is used twice", where=f"{source}: task {task.id!r}.id",
                fix="give every task its own id", error_key="plan_invalid:duplicate_id",
            )
        seen.add(task.id)
    for task in plan.tasks:
        for dep in task.depends_on:
            if dep not in seen:
                raise PlanError(
                    f"depends on unknown task {dep!r}",
                    where=f"{source}: task {task.id!r}.depends_on",
                    fix=f"use one of: {', '.join(sorted(seen))}",
                    error_key="plan_invalid:unknown_dependency",
                )
        for agent_name in task.attempt_agents:
            if agent_name not in plan.agents and agent_name not in repo_agents \
                    and agent_name not in BUILTIN_ADAPTERS:
                raise PlanError(
                    f"unknown agent {agent_name!r}", where=f"{source}: task {task.id!r}.attempt_agents",
                    fix="name an [agents.<name>] entry or a built-in adapter",
                    error_key="plan_invalid:unknown_agent",
                )
        if task.agent not in plan.agents and task.agent not in repo_agents \
                and task.agent not in BUILTIN_ADAPTERS:
            raise PlanError(
                f"unknown agent {task.agent!r}",
                where=f"{source}: task {task.id!r}.agent",
                fix="name an [agents.<name>] entry or a built-in adapter: "
                + ", ".join(BUILTIN_ADAPTERS),
                error_key="plan_invalid:unknown_agent",
            )
    cycle = find_cycle({t.id: t.depends_on for t in plan.tasks})
    if cycle:
        raise PlanError(
            "dependency cycle: " + " -> ".join(cycle),
            where=f"{source}: task {cycle[0]!r}.depends_on",
            fix="remove one of these depends_on entries",
            error_key="plan_invalid:dependency_cycle",
        )


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in the dependency graph as a path (first node repeated at the end), or None."""
    color: dict[str, int] = dict.fromkeys(graph, 0)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if color.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if color.get(nxt) == 0:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        color[node] = 2
        return None

    for node in graph:
        if color[node] == 0:
            found = visit(node)
            if found:
                return found
    return None


def parse_plan_text(text: str, suffix: str, source: str) -> dict[str, Any]:
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            loaded = yaml.safe_load(text)
            return loaded if loaded is not None else {}
        if suffix == ".json":
            loaded = json.loads(text)
            if not isinstance(loaded, dict):
                raise PlanError("a JSON plan must be an object", where=source)
            return loaded
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"invalid TOML: {exc}", where=source, fix="fix the TOML syntax") from None
    except yaml.YAMLError as exc:
        raise PlanError(f"invalid YAML: {exc}", where=source, fix="fix the YAML syntax") from None
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"invalid JSON: {exc.msg}", where=f"{source}:{exc.lineno}:{exc.colno}",
            fix="fix the JSON syntax",
        ) from None
    raise PlanError(
        f"unknown plan format {suffix!r}", where=source, fix="use a .toml, .yaml, .yml or .json file"
    )


def load_plan(path: Path, repo_agents: Collection[str] = ()) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(
            f"cannot read the plan: {exc.strerror}", where=str(path), fix="check the path"
        ) from None
    return validate_plan(parse_plan_text(text, path.suffix.lower(), str(path)), str(path), repo_agents)


def plan_from_cli(
    prompts: list[str], agent: str, role: str = "general", repo_agents: Collection[str] = ()
) -> Plan:
    """`launcher run --task "..." --task "..." --agent claude`: one task per prompt."""
    tasks = [
        {"id": f"task-{n}", "title": prompt[:60], "prompt": prompt, "agent": agent, "role": role}
        for n, prompt in enumerate(prompts, 1)
    ]
    return validate_plan({"task": tasks}, "--task", repo_agents)
