"""The `scripted-grader` adapter: runs the built-in deterministic grader on a packet."""

from __future__ import annotations

import sys

from launcher.agents.base import AgentOutcome, AgentRequest, Invocation, agent_env, exit_outcome
from launcher.errors import ConfigError
from launcher.process import Supervised


class ScriptedGraderAdapter:
    name = "scripted-grader"

    def invocation(self, request: AgentRequest) -> Invocation:
        if request.packet_path is None:
            raise ConfigError(
                "the scripted grader only grades", where=f"agent {request.agent_name!r}",
                fix="use it as [grading] grader, not as a task's agent",
            )
        argv = [sys.executable, "-m", "launcher.agents.scripted_grader", str(request.packet_path)]
        return Invocation(argv, agent_env(request))

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        return exit_outcome(result)
