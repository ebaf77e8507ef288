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

_ADAPTERS: dict[str, type] = {
    "command": CommandAdapter, "scripted": ScriptedAdapter, "scripted-grader": ScriptedGraderAdapter,
    "claude": ClaudeAdapter, "codex": CodexAdapter, "gemini": GeminiAdapter,
    "aider": AiderAdapter, "opencode": OpencodeAdapter, "acp": AcpAdapter, "scripted-judge": ScriptedJudgeAdapter,
}


def get_adapter(name: str) -> AgentAdapter:
    try:
        return _ADAPTERS[name]()
    except KeyError:
        raise EnvironmentProblem(
            f"the {name!r} adapter is not available in this version",
            fix="use the command adapter with the CLI's argv, or the scripted agent",
        ) from None
