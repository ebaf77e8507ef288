"""The `command` adapter: any executable, argv with {prompt} {task_id} {contract} placeholders."""

from __future__ import annotations

import re

from launcher.agents.base import AgentOutcome, AgentRequest, Invocation, agent_env, exit_outcome
from launcher.errors import ConfigError
from launcher.process import Supervised


class CommandAdapter:
    name = "command"

    def invocation(self, request: AgentRequest) -> Invocation:
        template = request.config.command
        if not template:
            raise ConfigError(
                f"agent {request.agent_name!r} has no command",
                where=f"agents.{request.agent_name}.command",
                fix='set command = ["program", "arg", "{prompt}"]',
            )
        values = {
            "prompt": request.task.prompt,
            "task_id": request.task.id,
            "contract": str(request.contract_path),
            "packet": str(request.packet_path or ""),
        }
        # Each placeholder is substituted inside one argv element: never a shell string.
        argv = [_fill(part, values) for part in template]
        argv += request.config.extra_args
        return Invocation(argv, agent_env(request))

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        return exit_outcome(result)


_PLACEHOLDER = re.compile(r"\{(prompt|task_id|contract|packet)\}")


def _fill(part: str, values: dict[str, str]) -> str:
    # One pass over the template: a `{task_id}` written inside the prompt stays as written.
    return _PLACEHOLDER.sub(lambda found: values[found[1]], part)
