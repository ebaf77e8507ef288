"""The agent limits a run's adapters cannot enforce, said at its start: `max_turns` and
`budget_usd` (an agent's, or a task's) are honoured by Claude Code alone; on another adapter they
used to be accepted and do nothing, without a word."""

from __future__ import annotations

from launcher.models.agent_keys import ENFORCES_LIMITS
from launcher.models.config import RepoConfig
from launcher.models.plan import AgentConfig, Plan

ONLY = "only " + ", ".join(ENFORCES_LIMITS) + " agents enforce it"


def unenforced_limits(plan: Plan, config: RepoConfig) -> list[str]:
    """One note per agent (and per task budget) whose limit its adapter ignores."""
    notes: list[str] = []
    said: set[str] = set()
    for task in plan.tasks:
        for name in dict.fromkeys([task.agent, *task.attempt_agents]):
            agent = _agent(plan, config, name)
            if agent is None or agent.adapter in ENFORCES_LIMITS:
                continue
            keys = [k for k in ("max_turns", "budget_usd") if getattr(agent, k) is not None]
            if keys and name not in said:
                said.add(name)
                notes.append(f"agents.{name}: {' and '.join(keys)} not enforced: the {agent.adapter} adapter "
                             f"has no such limit ({ONLY}); `launcher run --budget-usd` caps the whole run")
            if task.budget_usd is not None:
                notes.append(f"task {task.id!r}: budget_usd not enforced for agent {name!r}: the {agent.adapter} "
                             f"adapter has no such limit ({ONLY}); `launcher run --budget-usd` caps the whole run")
    return notes


def _agent(plan: Plan, config: RepoConfig, name: str) -> AgentConfig | None:
    if name in plan.agents:
        return plan.agents[name]
    if name in config.agents:
        return config.agents[name]
    try:
        return plan.agent_config(name)
    except ValueError:  # not an adapter: said by the plan's checks
        return None
