"""The plan a `launcher run` executes: from a file or from `--task` prompts, validated against
the agents this repository configures (launcher.toml or `[tool.launcher]`)."""

from __future__ import annotations

from pathlib import Path

from launcher.errors import EnvironmentProblem, UsageProblem
from launcher.git.repo import GitRepo
from launcher.models.config import RepoConfig, load_repo_config
from launcher.models.plan import BUILTIN_ADAPTERS, Plan, load_plan, plan_from_cli


async def repo_config_here(cwd: Path) -> RepoConfig:
    """This repository's config; the defaults outside a repository (the run itself then
    reports that, exit 3, after the plan's own problems)."""
    try:
        repo = await GitRepo.discover(cwd)
    except EnvironmentProblem:
        return RepoConfig()
    return load_repo_config(repo.root)


def default_agent(config: RepoConfig) -> str:
    """The agent for `--task` prompts when `--agent` is not given."""
    if config.default_agent:
        return config.default_agent
    names = [*config.agents, *(a for a in BUILTIN_ADAPTERS if not a.startswith("scripted"))]
    raise UsageProblem(
        "--task needs an agent to run its prompts, and this repository configures no default_agent",
        fix=f"pass --agent NAME (one of: {', '.join(names)}), or set default_agent = \"NAME\" "
            "in launcher.toml",
        error_key="usage:no_agent",
    )


async def plan_for_run(cwd: Path, plan_file: Path | None, prompts: list[str], agent: str | None) -> Plan:
    config = await repo_config_here(cwd)
    known = tuple(config.agents)
    if plan_file is not None:
        return load_plan(plan_file, known)
    return plan_from_cli(prompts, agent or default_agent(config), repo_agents=known)
