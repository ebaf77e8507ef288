"""The built-in scripted agent: deterministic, applies the edits a task declares.

It runs as a real subprocess (`python -P -m launcher.agents.scripted_main`), so the demo and the
tests exercise exactly the pipeline a real agent CLI goes through.
"""

from __future__ import annotations

import json

from launcher.agents.base import AgentOutcome, AgentRequest, Invocation, agent_env, exit_outcome
from launcher.launcher_child import launcher_module_argv
from launcher.process import Supervised
from launcher.regular_files import replace_file


class ScriptedAdapter:
    name = "scripted"

    def invocation(self, request: AgentRequest) -> Invocation:
        script_path = request.artifacts / "script.json"
        steps = [step.model_dump(exclude_none=True) for step in request.task.script]
        replace_file(script_path, json.dumps(steps, indent=1).encode("utf-8"))  # in the agent's reach
        argv = launcher_module_argv("launcher.agents.scripted_main", str(script_path))
        return Invocation(argv, agent_env(request))

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        return exit_outcome(result)
