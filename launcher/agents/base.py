"""The agent adapter Protocol: build argv + env for a round, interpret what the process did."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from launcher.models.plan import AgentConfig, Task
from launcher.process import Supervised

# Parent variables every agent may see; anything else must be named in the agent's config.
ENV_ALLOWLIST = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TMPDIR", "TZ",
    "VIRTUAL_ENV", "PYTHONPATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME", "XDG_DATA_HOME",
)


@dataclass(frozen=True)
class Answer:
    """What a reviewing agent (a grader, a judge) answers instead of a completion contract: the
    CLIs that enforce a schema get `schema` (`strict_schema` for OpenAI structured outputs)."""

    name: str  # "grader verdict", "judge verdict"
    schema: dict[str, Any]
    strict_schema: dict[str, Any]
    instructions: str


@dataclass
class AgentRequest:
    """Everything an adapter needs to start one round of one task."""

    run_id: str
    task: Task
    agent_name: str
    config: AgentConfig
    worktree: Path
    artifacts: Path
    base_sha: str
    iteration: int
    contract_path: Path
    feedback_path: Path | None
    port_base: int
    session_id: str | None = None
    attempt: int = 1  # process attempts of this task so far, corrective rounds included
    packet_path: Path | None = None  # graders: the grading packet to judge
    answer: Answer | None = None  # graders and judges: what to answer (else a completion contract)


@dataclass
class Invocation:
    argv: list[str]
    env: dict[str, str]


@dataclass
class AgentOutcome:
    ok: bool
    error_kind: str | None = None  # api_error, max_turns, budget_exceeded, timeout, stalled, crashed, ...
    message: str = ""
    final_text: str = ""
    tokens: dict[str, int] | None = None
    cost_usd: float | None = None
    session_id: str | None = None
    structured_output: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class AgentAdapter(Protocol):
    name: str

    def invocation(self, request: AgentRequest) -> Invocation: ...

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome: ...


def agent_env(request: AgentRequest, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Allowlisted parent environment + the agent config's names + the LAUNCHER_* contract.

    The parent's GIT_* variables are never inherited: they would point the agent's git at the
    main repository instead of its worktree.
    """
    parent = os.environ
    env = {k: parent[k] for k in ENV_ALLOWLIST if k in parent}
    env.update({k: v for k, v in parent.items() if k.startswith("LC_")})
    for name in request.config.env:
        if name in parent and not name.startswith("GIT_"):
            env[name] = parent[name]
    env.update(request.config.set_env)
    env.update(
        {
            "LAUNCHER_RUN_ID": request.run_id,
            "LAUNCHER_TASK_ID": request.task.id,
            "LAUNCHER_ROLE": request.task.role,
            "LAUNCHER_WORKTREE": str(request.worktree),
            "LAUNCHER_BASE_SHA": request.base_sha,
            "LAUNCHER_ITERATION": str(request.iteration),
            "LAUNCHER_ATTEMPT": str(request.attempt),
            "LAUNCHER_CONTRACT": str(request.contract_path),
            "LAUNCHER_FEEDBACK": str(request.feedback_path) if request.feedback_path else "",
            "LAUNCHER_PORT_BASE": str(request.port_base),
            "LAUNCHER_PACKET": str(request.packet_path) if request.packet_path else "",
        }
    )
    if extra:
        env.update(extra)
    return {k: v for k, v in env.items() if not k.startswith("GIT_")}


def exit_outcome(result: Supervised) -> AgentOutcome:
    """The generic reading of a process result: timeouts, stalls, non-zero exits."""
    if result.timed_out:
        return AgentOutcome(False, "timeout", f"killed after {result.duration_s:.1f}s (wall-clock timeout)")
    if result.stalled:
        return AgentOutcome(False, "stalled", "killed: no output or file change within the inactivity timeout")
    if result.returncode != 0:
        tail = _tail_from_line_start(result.stderr.strip() or result.stdout.strip(), 500)
        return AgentOutcome(False, "crashed", f"exit code {result.returncode}: {tail}".rstrip(": "))
    return AgentOutcome(True, message="exit code 0", final_text=result.stdout)


def _tail_from_line_start(text: str, limit: int) -> str:
    """The end of `text`, at most `limit` characters, starting at a line (never mid-word)."""
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    cut = tail.find("\n")
    return tail[cut + 1:] if 0 <= cut < len(tail) - 1 else tail
