"""The agent adapter Protocol: build argv + env for a round, interpret what the process did."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from launcher.agents.prompts import prompt_diagnosis
from launcher.git.git_vars import without_git_vars
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


@runtime_checkable
class StreamingAdapter(Protocol):
    """An adapter that reads its CLI's stdout line by line while it streams: the engine hands
    `stdout_line` to `process.supervise`, which calls it with every complete line, however much
    the CLI prints. What it counts (cost, tokens, the session id of the first event) is then
    exact while only the stream's last bytes are kept. `invocation` starts a fresh reader; an
    adapter never fed (a `Supervised` made by hand) reads the kept tail in `outcome` instead."""

    def stdout_line(self, line: bytes) -> None: ...


@runtime_checkable
class StderrStreamingAdapter(Protocol):
    """An adapter that reads its CLI's stderr line by line while it streams (a CLI that logs its
    retries there), as `StreamingAdapter` does its stdout."""

    def stderr_line(self, line: bytes) -> None: ...


@runtime_checkable
class GivingUpAdapter(Protocol):
    """An adapter that can tell, from what its CLI printed so far, that the CLI cannot go on but
    would wait anyway (a browser login, a network it retries forever): `give_up` is asked every
    tick of the supervision and returns why the round ends now, or None to go on."""

    def give_up(self) -> str | None: ...


def stderr_is_activity(adapter: object) -> bool:
    """Whether what the adapter's CLI prints on stderr shows it is making progress, so resets its
    inactivity clock (process.supervise). True unless the adapter says `stderr_is_activity = False`:
    a CLI that logs on stderr (opencode's ERROR lines while it retries) may print there for ever
    while going nowhere; then only its stdout (its events) and its file changes count."""
    return bool(getattr(adapter, "stderr_is_activity", True))


class LineReader(Protocol):
    def line(self, raw: bytes | str) -> None: ...


R = TypeVar("R", bound=LineReader)


class RoundLines(Generic[R]):
    """A streaming adapter's reader of one round's stdout: `feed` each line as it streams,
    `fresh()` when a round starts, `read(fallback)` at its end: the fed reader, or, when nothing
    was fed (a `Supervised` made by hand), `fallback()` over the kept tail."""

    def __init__(self, make: Callable[[], R]) -> None:
        self._make = make
        self.fresh()

    def fresh(self) -> None:
        self._reader, self._fed = self._make(), False

    def feed(self, line: bytes) -> None:
        self._fed = True
        self._reader.line(line)

    def peek(self) -> R:
        """What the lines fed so far said (while the round runs)."""
        return self._reader

    def read(self, fallback: Callable[[], R]) -> R:
        return self._reader if self._fed else fallback()


def agent_env(request: AgentRequest, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Allowlisted parent environment + the agent config's names + the LAUNCHER_* contract.

    The parent's GIT_* variables are never inherited: they would point the agent's git at the
    main repository instead of its worktree.
    """
    parent = os.environ
    env = {k: parent[k] for k in ENV_ALLOWLIST if k in parent}
    env.update({k: v for k, v in parent.items() if k.startswith("LC_")})
    env.update({name: parent[name] for name in request.config.env if name in parent})
    env = without_git_vars(env)
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
    """The generic reading of a process result: timeouts, stalls, non-zero exits. An agent killed
    by a timeout whose output ended with an interactive prompt is told so (`prompt_diagnosis`)."""
    killed = None
    if result.timed_out:
        killed = AgentOutcome(False, "timeout", f"killed after {result.duration_s:.1f}s (wall-clock timeout)")
    elif result.stalled:
        killed = AgentOutcome(False, "stalled", "killed: no output or file change within the inactivity timeout")
    if killed is not None:
        if (prompt := prompt_diagnosis(result)) is not None:
            killed.message = f"{killed.message}; {prompt}"
        return killed
    if result.returncode != 0:
        output = result.stderr.strip() or result.stdout.strip()
        tail = _tail_from_line_start(output, 500)
        raised = python_exception_line(output)
        if raised and raised != tail:  # the reason first: a table or a status line cuts the end
            tail = f"{raised}; its output ends: {tail}"
        return AgentOutcome(False, "crashed", f"exit code {result.returncode}: {tail}".rstrip(": "))
    return AgentOutcome(True, message="exit code 0", final_text=result.stdout)


_RAISED = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt)\b(?::.*)?$")


def python_exception_line(output: str) -> str | None:
    """The exception that ended a Python traceback in `output` (`AssertionError: ...`): the line
    after the traceback's last frame that names it, unindented. None without a traceback."""
    at = output.rfind("Traceback (most recent call last):")
    if at < 0:
        return None
    lines = [line for line in output[at:].splitlines()[1:] if line.strip()]
    raised = [line.strip() for line in lines if not line.startswith(" ") and _RAISED.match(line.strip())]
    return raised[-1][:300] if raised else None


def _tail_from_line_start(text: str, limit: int) -> str:
    """The end of `text`, at most `limit` characters, starting at a line (never mid-word)."""
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    cut = tail.find("\n")
    return tail[cut + 1:] if 0 <= cut < len(tail) - 1 else tail


# Error kind of a round whose output the adapter could not read (a bug or a shape it did not expect).
UNREADABLE = "unreadable_output"
MAX_SESSION_ID = 256
# Counts beyond these are not what a CLI measured: they are dropped (and named in `extra`).
MAX_TOKENS = 10**15


def clean_session_id(value: object) -> str | None:
    """A session id a CLI reported, if it can be handed back to it: text of printable characters
    without spaces, not starting with `-` (it goes into an argv), at most MAX_SESSION_ID long."""
    if not isinstance(value, str) or not value or len(value) > MAX_SESSION_ID or value.startswith("-"):
        return None
    if not value.isprintable() or any(ch.isspace() for ch in value):
        return None
    return value


def unreadable_outcome(cli: str, exc: BaseException | str, *, what: str = "output") -> AgentOutcome:
    """The round of a CLI whose output could not be read: a failure of this task alone."""
    reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return AgentOutcome(False, UNREADABLE, f"the {cli} CLI's {what} could not be read: {reason}"[:2000])


def sane_outcome(outcome: AgentOutcome) -> AgentOutcome:
    """What the journal, the budget and the next round may use of an adapter's outcome: token
    counts that are integers from 0 to MAX_TOKENS, a finite non-negative cost, a session id a CLI
    can be given back; anything else is dropped and named in `extra["dropped"]`."""
    dropped: list[str] = []
    if outcome.tokens is not None:
        if isinstance(outcome.tokens, dict):
            kept = {
                str(k): v for k, v in outcome.tokens.items()
                if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_TOKENS
            }
            dropped += [f"tokens.{k}" for k in outcome.tokens if str(k) not in kept]
        else:
            kept, dropped = {}, [*dropped, "tokens"]
        outcome.tokens = kept or None
    cost = outcome.cost_usd
    if cost is not None:
        value = finite_number(cost)
        if value is None or value < 0:
            outcome.cost_usd = None
            dropped.append("cost_usd")
        else:
            outcome.cost_usd = value
    if outcome.session_id is not None and clean_session_id(outcome.session_id) is None:
        outcome.session_id = None
        dropped.append("session_id")
    if dropped:
        outcome.extra = {**(outcome.extra if isinstance(outcome.extra, dict) else {}), "dropped": dropped}
    return outcome


def finite_number(value: object) -> float | None:
    """A JSON number as a finite float; None for anything else (an integer too large included)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
