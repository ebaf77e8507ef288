"""From a template (or a custom plan routed from keywords) to launcher plans: the printable
multi-phase plan, the `launcher run` plan of the whole workflow, and one step's run plan."""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter, ValidationError

from launcher.app.workflow.routing import DOMAINS, SUGGEST_THRESHOLD, analyze, suggest
from launcher.errors import ConfigError, UsageProblem
from launcher.models.config import RepoConfig
from launcher.models.plan import Plan, ScriptStep, validate_plan
from launcher.models.problems import did_you_mean
from launcher.models.workflow import Phase, RoleSpec, WorkflowTemplate

FALLBACK_AGENT = "claude"  # when launcher.toml names no [roles] default and no default_agent
DEFAULT_TEST_COMMAND = "python3 -m pytest -q"


# `{name}` is a placeholder; `{{` and `}}` are literal braces; any other brace is text as written
# (`{"k": 1}`, `{0}`, `{a.b}`), so a prompt or check never fails to render.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCRIPT = TypeAdapter(list[ScriptStep])


def resolve_agent(config: RepoConfig, role: str) -> str:
    return config.roles.get(role) or config.roles.get("default") or config.default_agent or FALLBACK_AGENT


def known_roles(templates: dict[str, WorkflowTemplate]) -> set[str]:
    """Every role a workflow may give a task: the templates', and those a custom plan routes to."""
    routed = {role for _, roles in DOMAINS.values() for role in roles} | {"general-expert", "code-review-expert"}
    return {spec.role for t in templates.values() for p in t.phases for spec in p.roles} | routed


def role_problem(config: RepoConfig, templates: dict[str, WorkflowTemplate]) -> ConfigError | None:
    """A `[roles]` key of launcher.toml that names no role (a misspelt `backend_expert`) would be
    ignored, its role running on the default agent: the error naming the closest role."""
    known = known_roles(templates) | {"default"}
    for key in config.roles:
        if key in known:
            continue
        hint = did_you_mean(key, sorted(known)) or did_you_mean(key.lower().replace("_", "-"), sorted(known))
        return ConfigError(f"[roles] names {key!r}, which is no role of any workflow template (nor `default`), "
                          "so it would map nothing and its role would run on the default agent",
                          where=f"[roles] {key} of launcher.toml", error_key="config_invalid:unknown_role",
                          fix=(f"{hint} " if hint else "") + "roles are lowercase with '-' (e.g. backend-expert); "
                              "`launcher workflow workflows` and `launcher workflow NAME` show them")
    return None


def check_roles(config: RepoConfig, templates: dict[str, WorkflowTemplate]) -> None:
    """Refused where a workflow or its plan is made (`start`, `plan`): `role_problem`."""
    if (problem := role_problem(config, templates)) is not None:
        raise problem


def check_settings(config: RepoConfig, templates: dict[str, WorkflowTemplate], params: dict[str, str]) -> None:
    """At `start`: launcher.toml's `[roles]` (`check_roles`) and the test command
    (`check_test_command`), refused before a workflow exists."""
    check_roles(config, templates)
    check_test_command(params, config)


def test_command(params: dict[str, str], config: RepoConfig) -> str:
    return params.get("test_command") or config.workflow.test_command or DEFAULT_TEST_COMMAND


def check_test_command(params: dict[str, str], config: RepoConfig) -> None:
    """The test command (a phase's checks, `test/results.json`) is run by a shell: a NUL in it,
    which no command can carry, is refused at `start`, naming where it came from."""
    command = test_command(params, config)
    if "\0" not in command:
        return
    from_param = bool(params.get("test_command"))
    where = ("--param test_command (MCP params.test_command)" if from_param
             else "[workflow] test_command of launcher.toml")
    error = UsageProblem if from_param else ConfigError
    raise error(f"the test command {command.replace(chr(0), '<NUL>')!r} holds a NUL character (\\u0000), which no "
                "command can carry", where=where, error_key="plan_invalid:check_nul",
                fix="remove it from the test command; no workflow was created")


def render(text: str, params: dict[str, str], config: RepoConfig, artifacts: list[str]) -> str:
    values = dict(params)
    values["test_command"] = test_command(params, config)
    values["artifacts"] = ", ".join(artifacts) if artifacts else "(none yet)"

    def fill(found: re.Match[str]) -> str:
        name = found.group(1)
        if name is None:
            return found.group(0)[0]  # `{{` -> `{`, `}}` -> `}`
        return values.get(name, found.group(0))  # a placeholder without a value stays as written

    return _PLACEHOLDER.sub(fill, text)


def check_scripts(template: WorkflowTemplate, scripts: Any) -> dict[str, Any]:
    """The scripted agent's steps by task id or role, each entry checked now (at `start`), so a
    phase never fails later on a bad entry."""
    fix = ('an object of task id or role -> list of steps, e.g. {"plan-architect": [{"write": "docs/p.md", '
           '"content": "..."}]} (task ids: `launcher workflow plan "..." --workflow NAME`)')
    if scripts is None:
        return {}
    if not isinstance(scripts, dict):
        raise UsageProblem(f"scripts must be an object, not {type(scripts).__name__}", where="scripts", fix=fix,
                           error_key="workflow_scripts_invalid")
    known = {task_id(p, r.role) for p in template.phases for r in p.roles} | {
        r.role for p in template.phases for r in p.roles}
    checked: dict[str, Any] = {}
    for key, steps in scripts.items():
        where = f"scripts[{key!r}]"
        if key not in known:
            raise UsageProblem(f"{key!r} is no task id or role of workflow {template.name!r}", where=where,
                               fix=f"use one of: {', '.join(sorted(known))}", error_key="workflow_scripts_invalid")
        try:
            _SCRIPT.validate_python(steps)
        except ValidationError as exc:
            first = exc.errors()[0]
            at = ".".join(str(part) for part in first["loc"])
            raise UsageProblem(f"{first['msg'].removeprefix('Value error, ')}" + (f" (at step {at})" if at else ""),
                               where=where, fix=fix, error_key="workflow_scripts_invalid") from None
        checked[key] = steps
    return checked


def check_params(template: WorkflowTemplate, params: dict[str, str]) -> dict[str, str]:
    """The template's parameters filled in: defaults applied, unknown or missing ones refused,
    and each one text that can be stored and sent (UTF-8)."""
    for name, value in params.items():
        for what, text in (("name", name), ("value", value)):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                shown = name.encode("utf-8", "backslashreplace").decode()
                raise UsageProblem(
                    f"parameter {shown!r}: its {what} is not UTF-8 text (at character {exc.start}: "
                    f"{text[exc.start:exc.end]!a}, a byte or surrogate that is no character)",
                    where=f"--param {shown}", fix="pass the parameter as UTF-8 text",
                    error_key="workflow_param_invalid") from None
    unknown = sorted(set(params) - set(template.parameters))
    if unknown:
        raise UsageProblem(f"workflow {template.name!r} has no parameter {unknown[0]!r}",
                           fix=f"its parameters: {', '.join(template.parameters) or 'none'}",
                           error_key="workflow_param_unknown")
    filled = dict(params)
    for name, spec in template.parameters.items():
        if name not in filled and spec.default is not None:
            filled[name] = spec.default
        if spec.required and not filled.get(name):
            about = f" ({spec.description})" if spec.description else ""  # a template may not describe it
            raise UsageProblem(f"workflow {template.name!r} needs the parameter {name!r}{about}",
                               fix=f"pass it: `--param {name}=VALUE` on the command line, "
                                   f"`params: {{\"{name}\": VALUE}}` over MCP", error_key="workflow_param_missing")
    return filled


def custom_template(context: str) -> WorkflowTemplate:
    """No template fits: route the description's keywords to roles, implement in parallel, then
    verify and review."""
    roles = [r for r in analyze(context).roles if r not in ("testing-expert", "product-expert")] or ["general-expert"]
    work = [RoleSpec(role=r, prompt=f"As the {r.replace('-', ' ')}, do your part of: {{task}}\n"
                                    "Earlier artifacts: {artifacts}") for r in roles]
    return WorkflowTemplate.model_validate({
        "name": "custom", "description": f"Custom plan routed from keywords: {context[:80]}",
        "category": "custom", "parameters": {"task": {"description": "the task", "required": True}},
        "phase": [
            {"id": "implement", "name": "Implement", "primary": [w.model_dump() for w in work],
             "artifacts": ["implement/files.json", "implement/log.md"]},
            {"id": "verify", "name": "Verify", "checks": ["{test_command}"],
             "primary": [{"role": "testing-expert", "prompt": "Test the work done for: {task}\n"
                                                              "The test command `{test_command}` must pass."}],
             "artifacts": ["test/results.json", "test/coverage.json"]},
            {"id": "review", "name": "Review",
             "primary": [{"role": "code-review-expert", "prompt": "Review the work done for: {task}"}],
             "artifacts": [{"path": "review/quality.md", "role": "code-review-expert"}]},
        ],
    })


def choose_template(context: str, templates: dict[str, WorkflowTemplate],
                    workflow: str | None) -> tuple[WorkflowTemplate, list[dict[str, Any]]]:
    if workflow:
        if workflow not in templates:
            raise UsageProblem(f"no workflow template {workflow!r}", fix=f"one of: {', '.join(sorted(templates))}",
                               error_key="workflow_unknown")
        return templates[workflow], []
    ranked = suggest(context, templates)
    if ranked and ranked[0]["score"] >= SUGGEST_THRESHOLD:
        return templates[ranked[0]["workflow"]], ranked
    return custom_template(context), ranked


def task_id(phase: Phase, role: str) -> str:
    return phase.task_id(role)


def phase_tasks(phase: Phase, params: dict[str, str], config: RepoConfig, artifacts: list[str],
                after: list[str]) -> list[dict[str, Any]]:
    """The phase's roles as plan tasks: in parallel (each after `after`), or in a chain."""
    tasks: list[dict[str, Any]] = []
    previous: list[str] = list(after)
    for spec in phase.roles:
        task = {"id": task_id(phase, spec.role), "title": f"{phase.title}: {spec.role}", "role": spec.role,
                "agent": resolve_agent(config, spec.role), "prompt": render(spec.prompt, params, config, artifacts),
                "depends_on": previous, "checks": [render(c, params, config, artifacts) for c in phase.checks]}
        tasks.append(task)
        if phase.sequential:
            previous = [str(task["id"])]
    return tasks


def describe(template: WorkflowTemplate, params: dict[str, str], config: RepoConfig) -> list[dict[str, Any]]:
    """Phases in order with their step (phases of one step run side by side) and agent groups."""
    out: list[dict[str, Any]] = []
    for number, step in enumerate(template.steps(), 1):
        for phase in step:
            members = [{"role": r.role, "agent": resolve_agent(config, r.role), "primary": r in phase.primary}
                       for r in phase.roles]
            groups = [[m] for m in members] if phase.sequential else [members]
            out.append({"id": phase.id, "name": phase.title, "step": number, "description": phase.description,
                        "parallel_with": phase.parallel_with, "checkpoint": phase.checkpoint,
                        "checks": [render(c, params, config, []) for c in phase.checks],
                        "artifacts": [a.path for a in phase.artifacts], "parallel_groups": groups})
    return out


def whole_run_plan(template: WorkflowTemplate, params: dict[str, str], config: RepoConfig) -> dict[str, Any]:
    """The workflow as one `launcher run` plan: each step's tasks depend on the step before."""
    tasks: list[dict[str, Any]] = []
    after: list[str] = []
    for step in template.steps():
        step_ids: list[str] = []
        for phase in step:
            made = phase_tasks(phase, params, config, [], after)
            tasks.extend(made)
            step_ids.extend(t["id"] for t in made)
        after = step_ids
    return {"run": {"max_parallel": 4}, "task": tasks}


def step_plan(phases: list[Phase], params: dict[str, str], config: RepoConfig, artifacts: list[str],
              scripts: dict[str, Any], target: str, *, setup: str | None = None) -> Plan:
    """The plan of one step's run: its phases' tasks, scripted steps where the options give them.
    `artifacts`: the earlier artifacts as its agents find them; `setup`: the run's setup, which
    puts them there (app/workflow/handoff.py)."""
    tasks: list[dict[str, Any]] = []
    for phase in phases:
        for task in phase_tasks(phase, params, config, artifacts, []):
            script = scripts.get(task["id"]) or scripts.get(task["role"])
            if script is not None:
                task["script"] = script
            tasks.append(task)
    run: dict[str, Any] = {"max_parallel": 4, "base": target, "into": target}
    if setup is not None:
        run["setup"] = setup
    if check := step_integration_check(phases, params, config, artifacts):
        run["integration_check"] = check
    return validate_plan({"run": run, "task": tasks},
                         f"workflow step {'+'.join(p.id for p in phases)}", config.agents)


def step_integration_check(phases: list[Phase], params: dict[str, str], config: RepoConfig,
                           artifacts: list[str]) -> str | None:
    """What the step's landed result must pass: the repository's own integration check and every
    phase check. Each task passing them alone is not enough: two tasks can each pass and break
    them together, and the target must never move to a tree that fails them."""
    checks = [config.merge.integration_check or ""]
    checks += [render(c, params, config, artifacts) for phase in phases for c in phase.checks]
    unique = list(dict.fromkeys(c.strip() for c in checks if c.strip()))
    if not unique:
        return None
    # each on lines of its own: a check ending in a `# comment` must not swallow the `)`
    return unique[0] if len(unique) == 1 else " && ".join(f"(\n{c}\n)" for c in unique)
