"""Adapter lookup by name. One module per adapter; this maps names to them."""

from __future__ import annotations

from launcher.agents.acp import AcpAdapter
from launcher.agents.aider import AiderAdapter
from launcher.agents.base import AgentAdapter
from launcher.agents.claude import ClaudeAdapter
from launcher.agents.codex import CodexAdapter
from launcher.agents.command import CommandAdapter
from launcher.agents.gemini import GeminiAdapter
from launcher.agents.grader import ScriptedGraderAdapter
from launcher.agents.judge import ScriptedJudgeAdapter
from launcher.agents.opencode import OpencodeAdapter
from launcher.agents.scripted import ScriptedAdapter
from launcher.errors import EnvironmentProblem
from launcher.models.plan import AgentConfig

_ADAPTERS: dict[str, type] = {
    "command": CommandAdapter, "scripted": ScriptedAdapter, "scripted-grader": ScriptedGraderAdapter,
    "claude": ClaudeAdapter, "codex": CodexAdapter, "gemini": GeminiAdapter,
    "aider": AiderAdapter, "opencode": OpencodeAdapter, "acp": AcpAdapter, "scripted-judge": ScriptedJudgeAdapter,
}


# The adapters whose CLI gets the round's prompt as one command-line argument.
_PROMPT_AS_ARGUMENT = frozenset({"claude", "codex", "gemini", "aider", "opencode"})


def prompt_as_argument(config: AgentConfig) -> bool:
    """Whether this agent's prompt travels as one command-line argument (so its size is bounded,
    `cli_common.PROMPT_LIMIT_BYTES`): the CLI adapters, and `command` when a part of its command
    holds {prompt}. `acp` sends it over the agent's stdin; the scripted agents read their script."""
    if config.adapter == "command":
        return any("{prompt}" in part for part in config.command or [])
    return config.adapter in _PROMPT_AS_ARGUMENT


def get_adapter(name: str) -> AgentAdapter:
    try:
        return _ADAPTERS[name]()
    except KeyError:
        raise EnvironmentProblem(
            f"the {name!r} adapter is not available in this version",
            fix="use the command adapter with the CLI's argv, or the scripted agent",
        ) from None
