"""The plan a `launcher run` executes: from a file or from `--task` prompts, validated against
the agents this repository configures (launcher.toml or `[tool.launcher]`)."""

from __future__ import annotations

from pathlib import Path

from launcher.app.run.inputs import grading_problems
from launcher.errors import UsageProblem
from launcher.git.repo import GitRepo, NoRepositoryHere
from launcher.models.config import RepoConfig, load_repo_config
from launcher.models.plan import BUILTIN_ADAPTERS, Plan, load_plan, plan_from_cli
from launcher.models.plan_checks import RUNNABLE_BY_NAME


async def repo_config_here(cwd: Path) -> RepoConfig:
    """This repository's config; the defaults outside a repository (the run itself then
    reports that, exit 3, after the plan's own problems). A repository git refuses (dubious
    ownership, say) is reported here, first: its launcher.toml exists but cannot be read, and
    the plan checked against no agents would blame the plan."""
    root = await _repo_root_here(cwd)
    return RepoConfig() if root is None else load_repo_config(root)


async def _repo_root_here(cwd: Path) -> Path | None:
    try:
        return (await GitRepo.discover(cwd)).root
    except NoRepositoryHere:
        return None


def default_agent(config: RepoConfig) -> str:
    """The agent for `--task` prompts when `--agent` is not given."""
    if config.default_agent:
        return config.default_agent
    names = [*config.agents, *(a for a in RUNNABLE_BY_NAME if not a.startswith("scripted"))]
    raise UsageProblem(
        "--task needs an agent to run its prompts, and this repository configures no default_agent",
        fix=f"pass --agent NAME (one of: {', '.join(names)}), or set default_agent = \"NAME\" "
            "in launcher.toml",
        error_key="usage:no_agent",
    )


async def plan_for_run(cwd: Path, plan_file: Path | None, prompts: list[str], agent: str | None) -> Plan:
    config = await repo_config_here(cwd)
    known = config.agents  # names and adapters: a task's `script` needs the scripted one
    if plan_file is not None:
        root = await _repo_root_here(cwd)
        # its grader and rubrics (which a run checks before anything is created) listed with
        # the plan's own problems, under the plan file's name
        more = None if root is None else (lambda plan: grading_problems(root, plan, config))
        return _unnamed_agents_default(load_plan(plan_file, known, more), config, plan_file)
    if agent is None and not config.default_agent:
        await GitRepo.discover(cwd)  # outside a repository, that is what to fix first (exit 3)
    if agent is None:
        agent = checked_default_agent(default_agent(config), config, "--task was given without --agent")
    elif not _is_agent(agent, config):  # the flag the user typed, not a task they did not write
        raise UsageProblem(f"unknown agent {agent!r}", where="--agent", error_key="plan_invalid:unknown_agent",
                           fix="name an [agents.<name>] entry or a built-in adapter: "
                               + ", ".join(_agent_names(config)))
    return plan_from_cli(prompts, agent, repo_agents=known)


def _agent_names(config: RepoConfig) -> list[str]:
    return [*config.agents, *RUNNABLE_BY_NAME]


def _is_agent(name: str, config: RepoConfig) -> bool:
    return name in config.agents or name in BUILTIN_ADAPTERS


def checked_default_agent(name: str, config: RepoConfig, who: str) -> str:
    """launcher.toml's default_agent `name`, for tasks that name no agent of their own (`who`
    says which); one that names no agent is an error about that key, not about the tasks."""
    if not _is_agent(name, config):
        raise UsageProblem(
            f"default_agent {name!r} (launcher.toml) is not an agent, and {who}",
            where="launcher.toml", error_key="usage:no_agent",
            fix=f"set default_agent to one of: {', '.join(_agent_names(config))}")
    return name


def _unnamed_agents_default(plan: Plan, config: RepoConfig, plan_file: Path) -> Plan:
    """A task that names no agent runs launcher.toml's `default_agent`, as `--task` does; one
    with a `script` keeps the built-in scripted agent. Without a default_agent that is an error:
    the scripted agent, given nothing to do, would report the task done with no changes."""
    unnamed = [t for t in plan.tasks if "agent" not in t.model_fields_set and not t.script and not t.select_from]
    if not unnamed:
        return plan
    if not config.default_agent:
        names = ", ".join(t.id for t in unnamed[:5]) + (" ..." if len(unnamed) > 5 else "")
        raise UsageProblem(
            f"task(s) {names} name no agent, have no script, and launcher.toml sets no default_agent",
            where=str(plan_file), error_key="usage:no_agent",
            fix='set agent = "NAME" on each task (an [agents] name or a built-in adapter), or '
                'default_agent = "NAME" in launcher.toml')
    name = checked_default_agent(config.default_agent, config,
                                 f"task(s) {', '.join(t.id for t in unnamed[:5])} name no agent of their own")
    for task in unnamed:
        task.agent = name
    return plan
