"""The `scripted-judge` adapter: runs the built-in deterministic judge on a judge packet."""

from __future__ import annotations

import sys

from launcher.agents.base import AgentOutcome, AgentRequest, Invocation, agent_env, exit_outcome
from launcher.errors import ConfigError
from launcher.process import Supervised


class ScriptedJudgeAdapter:
    name = "scripted-judge"

    def invocation(self, request: AgentRequest) -> Invocation:
        if request.packet_path is None:
            raise ConfigError(
                "the scripted judge only judges survivors", where=f"agent {request.agent_name!r}",
                fix="use it with `launcher mutation judge --agent`, not as a task's agent",
            )
        argv = [sys.executable, "-m", "launcher.agents.scripted_judge", str(request.packet_path)]
        return Invocation(argv, agent_env(request))

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        return exit_outcome(result)
