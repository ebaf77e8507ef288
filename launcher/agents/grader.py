"""The `scripted-grader` adapter: runs the built-in deterministic grader on a packet."""

from __future__ import annotations

from launcher.agents.base import AgentOutcome, AgentRequest, Invocation, agent_env, exit_outcome
from launcher.errors import ConfigError
from launcher.launcher_child import launcher_module_argv
from launcher.process import Supervised


class ScriptedGraderAdapter:
    """A built-in reviewer: `python -P -m <module> PACKET`; only ever given a packet."""

    name = "scripted-grader"
    module = "launcher.agents.scripted_grader"
    misuse = ("the scripted grader only grades", "use it as [grading] grader, not as a task's agent")

    def invocation(self, request: AgentRequest) -> Invocation:
        if request.packet_path is None:
            what, fix = self.misuse
            raise ConfigError(what, where=f"agent {request.agent_name!r}", fix=fix)
        argv = launcher_module_argv(self.module, str(request.packet_path))
        return Invocation(argv, agent_env(request))

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        return exit_outcome(result)
