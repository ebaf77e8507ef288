"""The plan: tasks for specialists, named agent configs and run settings (TOML, YAML or JSON).

Loading reports every problem at once, in the project's words (see `models/problems`), and
turns any input, however malformed, into a `Plan` or a `PlanError` (exit 2), never a traceback.
"""

from __future__ import annotations

import errno
import json
import tomllib
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from launcher.errors import PlanError
from launcher.models.config import RepoConfig
from launcher.models.decoding import json_loads, read_document, toml_loads, yaml_load
from launcher.models.ids import task_id_problem
from launcher.models.plan_checks import check_plan, find_cycle, plan_problems
from launcher.models.plan_schema import (
    BUILTIN_ADAPTERS,
    AdapterName,
    AgentConfig,
    Plan,
    RunSettings,
    ScriptStep,
    Strict,
    Task,
    env_names,
)
from launcher.models.problems import Problem, problems_of, raise_problems

__all__ = [
    "BUILTIN_ADAPTERS", "AdapterName", "AgentConfig", "Plan", "RunSettings", "ScriptStep", "Strict", "Task",
    "attempt_id", "check_plan", "env_names", "expand_attempts", "find_cycle", "load_plan", "parse_plan_text",
    "plan_from_cli", "plan_from_journal", "validate_plan",
]
PLAN_FIX = "see README, 'Plan format'"
MoreChecks = Callable[[Plan], list[Problem]]
# Unknown top-level keys a user plausibly meant as one of ours.
TOP_HINTS = {
    "tasks": "write each task as [[task]] (singular), not [[tasks]]",
    "agent": "agents are tables named [agents.<name>]",
    "settings": "run settings go in the [run] table",
}


# [run] keys of the schema a plan may not set to anything but what the run does anyway (the
# journal's and a dumped plan's hold them: `merge = true`): key -> the fix.
_NOT_A_PLAN_KEY = {
    "merge": "a plan does not decide whether its run lands: `launcher run PLAN --no-merge` keeps the "
             "approved work on its branches, and `launcher land RUN` lands it later",
}


def _launcher_toml_hints() -> dict[str, str]:
    """Where a key of launcher.toml written in a plan belongs: launcher.toml (every run's
    defaults), or, for this plan only, the [run] key that overrides it (`[grading] grader` is
    `[run] grader` in a plan, `[merge] strategy` is `[run] strategy`). A run setting written at
    the plan's top level goes in its [run] table."""
    run_keys = [key for key in RunSettings.model_fields if key not in _NOT_A_PLAN_KEY]
    hints: dict[str, str] = {}
    for name, field in RepoConfig.model_fields.items():
        if name in Plan.model_fields or name in ("tasks", "task"):
            continue  # valid in both ([agents.<name>])
        inner = field.annotation
        if isinstance(inner, type) and issubclass(inner, Strict):
            same = [key for key in inner.model_fields if key in run_keys]
            hint = f"[{name}] is a table of launcher.toml (the defaults of every run)"
            hint += (f"; for this plan only, set {', '.join(f'`{key}`' for key in same)} in the plan's [run] table"
                     if same else ", not of a plan")
            if name in run_keys:  # `merge = false`: the [run] key of the same name
                hint += f"; `{name} = <value>` (not a table) is a [run] key too"
        elif name in run_keys:
            hint = f"`{name}` is a launcher.toml key (the defaults of every run); in a plan it goes in the [run] table"
        else:
            hint = f"`{name}` is a launcher.toml key (the defaults of every run), not a plan's"
        hints[name] = hint
    for name in run_keys:
        hints.setdefault(name, f"`{name}` is a run setting: put it in the plan's [run] table")
    return hints


TOP_HINTS |= {key: hint for key, hint in _launcher_toml_hints().items() if key not in TOP_HINTS}


def _location(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    for index, item in enumerate(loc):
        if isinstance(item, int) and parts:
            parts[-1] = f"{parts[-1]}[{item}]"
            # Name the task by id when we can: "task[2] (id 'api')".
            if index == 1 and loc[0] in ("task", "tasks"):
                tasks = data.get(loc[0])
                if isinstance(tasks, list) and item < len(tasks) and isinstance(tasks[item], dict) \
                        and "id" in tasks[item]:
                    parts[-1] += f" (id {tasks[item]['id']!r})"
        else:
            parts.append(str(item) if not isinstance(item, int) else f"[{item}]")
    return ".".join(parts) or "(top level)"


def _launcher_only_keys(data: dict[str, Any]) -> list[Problem]:
    """Keys the launcher sets itself: a user plan that sets them would break best-of-N, or be
    ignored (`[run] merge`: the run would land all the same)."""
    tasks = data.get("task")
    problems = []
    run = data.get("run")
    for key, fix in _NOT_A_PLAN_KEY.items():
        if isinstance(run, dict) and key in run and run[key] is not RunSettings.model_fields[key].default:
            problems.append(Problem(f"run.{key}", f"not a plan setting ({key} = {run[key]!r} would be ignored)",
                                    "plan_invalid:extra_forbidden", fix))
    for index, entry in enumerate(tasks if isinstance(tasks, list) else []):
        if isinstance(entry, dict) and entry.get("select_from"):
            problems.append(Problem(
                _location(("task", index, "select_from"), data), "is set by the launcher, not by a plan",
                "plan_invalid:launcher_only_key", "use `attempts = K` for best-of-N",
            ))
    return problems


def _hinted(problem: Problem) -> Problem:
    if problem.fix in {f"did you mean `{key}`?" for key in _NOT_A_PLAN_KEY}:  # not a key to write
        return Problem(problem.where, problem.what, problem.error_key)
    if problem.where == "task" and problem.error_key.endswith(("list_type", "dict_type", "model_type")):
        return Problem(problem.where, problem.what, problem.error_key,
                       "write each task as an array of tables: [[task]] (double brackets), one per task")
    return problem


def _cross_problems_of_the_valid_part(
    data: dict[str, Any], repo_agents: Collection[str] = (), more: MoreChecks | None = None,
) -> list[Problem]:
    """The cross-checks (agents, dependencies, cycles, the caller's `more`) of the tasks whose
    keys are valid, and of the [run] table when it is valid, so one run of `launcher run`
    reports those too. A task that is itself invalid still counts as known,
    with the dependencies it names (a cycle through it is listed with its other problems)."""
    raw_tasks: list[Any] = data["task"] if isinstance(data.get("task"), list) else []
    raw_agents: dict[Any, Any] = data["agents"] if isinstance(data.get("agents"), dict) else {}
    tasks: list[Task] = []
    for entry in raw_tasks:
        try:
            tasks.append(Task.model_validate(entry))
        except (ValidationError, RecursionError, ValueError, TypeError):
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                # known, not checked itself; its dependencies still count, so every cycle is listed
                deps = entry.get("depends_on")
                depends_on = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
                tasks.append(Task.model_construct(id=entry["id"], agent="scripted", depends_on=depends_on))
    if not tasks:
        return []
    agents = {str(name): _agent_or_placeholder(entry) for name, entry in raw_agents.items()}
    try:
        run = RunSettings.model_validate(data.get("run", {}))
    except (ValidationError, RecursionError, ValueError, TypeError):
        run = RunSettings()  # its problems are listed; the checks of [run]'s values wait for it
    partial = Plan.model_construct(run=run, agents=agents, tasks=tasks)
    return plan_problems(partial, repo_agents) + (more(partial) if more else [])


def _agent_or_placeholder(entry: Any) -> AgentConfig:
    """A valid [agents.*] entry as it is (its cross-checks listed too), else a name only: its own
    problems are listed already."""
    try:
        return AgentConfig.model_validate(entry)
    except (ValidationError, RecursionError, ValueError, TypeError):
        return AgentConfig.model_construct(adapter="scripted")


def validate_plan(data: Any, source: str, repo_agents: Collection[str] = (), more: MoreChecks | None = None) -> Plan:
    """Build and cross-check a plan; every problem names the task and the key, all at once.
    `repo_agents`: the agents the repository configures, which tasks may name too; `more`: the
    caller's checks of the plan against the repository (its grader, its rubrics), whose problems
    are listed with the plan's own."""
    if not isinstance(data, dict):
        raise PlanError("the plan must be a table/object at the top level", where=source,
                        fix=PLAN_FIX, error_key="plan_invalid:not_a_table")
    if "tasks" in data and "task" in data:
        raise PlanError("the plan has both `task` and `tasks`", where=f"{source}: tasks",
                        fix=TOP_HINTS["tasks"], error_key="plan_invalid:extra_forbidden")
    if "tasks" in data:
        data = {**data, "task": data["tasks"]}
        del data["tasks"]
    problems = _launcher_only_keys(data)
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        problems += [p for p in problems_of(exc, Plan, lambda loc: _location(loc, data), "plan_invalid", TOP_HINTS)
                     if p.where not in {f"run.{key}" for key in _NOT_A_PLAN_KEY}]  # said above
        problems += _cross_problems_of_the_valid_part(data, repo_agents, more)
    except (RecursionError, ValueError, TypeError) as exc:  # a value too deep or odd to validate
        problems.append(Problem("", f"cannot be validated ({exc.__class__.__name__})", "plan_invalid:unusable"))
    problems = [_hinted(p) for p in problems]
    if problems:
        raise_problems(problems, source, PlanError, f"correct {'these keys' if len(problems) > 1 else 'that key'}"
                       f" ({PLAN_FIX})")
    check_plan(plan, source, repo_agents, more)
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
    own_ids = {task.id for task in plan.tasks}
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
            if aid in own_ids:  # else "used twice", of an id the plan names once
                raise PlanError(
                    f"task id {aid!r} is also the id of attempt {k + 1} of the best-of-{task.attempts} task "
                    f"{task.id!r} (its attempts are named {ids[0]!r} .. {ids[-1]!r})",
                    where=f"{source}: task {aid!r}.id", fix=f"rename task {aid!r}",
                    error_key="plan_invalid:duplicate_id")
            update: dict[str, Any] = {"id": aid, "attempts": 1, "attempt_agents": [],
                                      "title": f"{task.title or task.id} (attempt {k + 1})"}
            if task.attempt_agents:  # else the task's own agent, or (none named) default_agent later
                update["agent"] = task.attempt_agents[k % len(task.attempt_agents)]
            expanded.append(task.model_copy(update=update))
        expanded.append(task.model_copy(update={"depends_on": ids, "select_from": ids}))
    if len(expanded) == len(plan.tasks):
        return plan
    result = plan.model_copy(update={"tasks": expanded})
    check_plan(result, source, repo_agents)
    return result


def parse_plan_text(text: str, suffix: str, source: str) -> dict[str, Any]:
    try:
        if suffix == ".toml":
            return toml_loads(text)
        if suffix in (".yaml", ".yml"):
            loaded = yaml_load(text)
            return loaded if loaded is not None else {}
        if suffix == ".json":
            loaded = json_loads(text)
            if not isinstance(loaded, dict):
                raise PlanError("a JSON plan must be an object", where=source, fix=PLAN_FIX,
                                error_key="plan_invalid:not_a_table")
            return loaded
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"invalid TOML: {exc}", where=source, fix="fix the TOML syntax",
                        error_key="plan_invalid:syntax") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None)
        if mark is None or not problem:
            raise PlanError(f"invalid YAML: {exc}", where=source, fix="fix the YAML syntax",
                            error_key="plan_invalid:syntax") from None
        raise PlanError(f"invalid YAML: {problem}", where=f"{source}:{mark.line + 1}:{mark.column + 1}",
                        fix="fix the YAML syntax", error_key="plan_invalid:syntax") from None
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"invalid JSON: {exc.msg}", where=f"{source}:{exc.lineno}:{exc.colno}",
            fix="fix the JSON syntax", error_key="plan_invalid:syntax",
        ) from None
    raise PlanError(
        f"unknown plan format {suffix!r}", where=source, fix="use a .toml, .yaml, .yml or .json file"
    )


def load_plan(path: Path, repo_agents: Collection[str] = (), more: MoreChecks | None = None) -> Plan:
    try:
        if path.is_fifo() or path.is_char_device() or path.is_block_device():  # would wait for a writer for ever
            raise OSError(errno.EINVAL, "not a regular file (a named pipe or a device)")
        text = read_document(path)
    except OSError as exc:
        raise PlanError(
            f"cannot read the plan: {exc.strerror or exc}", where=str(path),
            fix="check the path, and save the plan as UTF-8 text", error_key="plan_invalid:unreadable",
        ) from None
    return validate_plan(parse_plan_text(text, path.suffix.lower(), str(path)), str(path), repo_agents, more)


def plan_from_cli(
    prompts: list[str], agent: str, role: str = "general", repo_agents: Collection[str] = ()
) -> Plan:
    """`launcher run --task "..." --task "..." --agent claude`: one task per prompt."""
    tasks = [
        {"id": f"task-{n}", "title": prompt[:60], "prompt": prompt, "agent": agent, "role": role}
        for n, prompt in enumerate(prompts, 1)
    ]
    return validate_plan({"task": tasks}, "--task", repo_agents)


def plan_from_journal(data: Any, run_id: str) -> Plan:
    """A run's plan as journaled at its start; one the current schema refuses (journaled by an
    older launcher) is a usage error naming the run, not a traceback on every resume."""
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        problems = problems_of(exc, Plan, lambda loc: _location(loc, data if isinstance(data, dict) else {}),
                               "plan_invalid")
        raise_problems(problems, f"the journaled plan of run {run_id}", PlanError,
                       "start a new run with a corrected plan (`launcher run PLAN`)")
