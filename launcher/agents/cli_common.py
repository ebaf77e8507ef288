"""What the Claude Code, Codex CLI and Gemini CLI adapters share.

Environment hardening, the contract JSON Schema handed to CLIs that enforce one, the prompt of a
round (first round, corrective round, revision round), session ids kept between rounds, and the
reading of timeouts and stalls.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from launcher.agents.base import (
    AgentOutcome,
    AgentRequest,
    agent_env,
    clean_session_id,
    exit_outcome,
    finite_number,
)
from launcher.agents.cli_options import with_option_hint
from launcher.agents.prompts import prompt_diagnosis, recent_prompt
from launcher.errors import LauncherError
from launcher.git.git_vars import without_git_vars
from launcher.models.contract import (
    CONTRACT_STATUSES,
    REQUIRED_KEYS,
    CompletionContract,
    last_json_object,
)
from launcher.models.decoding import json_loads
from launcher.private_files import make_private_dirs
from launcher.process import Supervised
from launcher.regular_files import read_regular, remove_any, replace_file

# Parent variables every CLI adapter passes on besides base.ENV_ALLOWLIST: proxies and the CA
# bundle Node reads, without which a CLI behind a corporate proxy cannot reach its API at all.
NETWORK_PASSTHROUGH = (
    "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "no_proxy",
    "all_proxy", "NODE_EXTRA_CA_CERTS",
)

# The feedback file is quoted into the prompt of a corrective or revision round up to this many
# bytes of UTF-8 (the rest stays in the file the prompt names).
FEEDBACK_INLINE_LIMIT = 20_000
# A CLI gets its prompt as ONE argument, and Linux takes at most 128 KiB in one argument
# (MAX_ARG_STRLEN). A round adds to the task's prompt at most the quoted feedback, the contract
# instructions (about 1 KiB) and a few paths, well under 32 KiB; the task's prompt may have the rest.
PROMPT_LIMIT_BYTES = 96 * 1024

_DESCRIPTIONS = {
    "contract_version": 'always "1"',
    "task_id": "the id of this task, exactly",
    "status": "done when the task is complete; blocked / needs_input when it cannot go on; failed otherwise",
    "summary": "one paragraph: what you did",
    "files_changed": "paths (relative to the repository root) of every file this task changed, "
                     "in this round and in any earlier round of it",
    "tests_added": "tests you added, e.g. tests/test_x.py::test_y",
    "decisions": "one line per trade-off you made",
    "blockers": "what stops you; empty when done",
    "llm_observations": "substantive free text: risks, doubts, what a reviewer should look at",
}


def contract_schema(task_id: str, *, strict: bool) -> dict[str, Any]:
    """The completion contract (models.contract) as a JSON Schema for a CLI to enforce.

    Built from the pydantic model so the two cannot drift: every key of REQUIRED_KEYS is
    required, `task_id` is pinned to this task, the launcher's own `source` key is left out.
    `strict` gives the form OpenAI's structured outputs (Codex `--output-schema`) accept: no
    extra keys, no `minLength`/`const`/`default`. Otherwise extra keys stay allowed (QA agents
    add theirs, DESIGN 7.1).
    """
    model = CompletionContract.model_json_schema()
    properties: dict[str, Any] = {}
    for key in REQUIRED_KEYS:
        prop = {k: v for k, v in model["properties"][key].items() if k not in ("title", "default")}
        if "const" in prop:
            prop["enum"] = [prop.pop("const")]
        prop["description"] = _DESCRIPTIONS[key]
        properties[key] = prop
    properties["task_id"]["enum"] = [task_id]
    properties["status"]["enum"] = list(CONTRACT_STATUSES)
    if not strict:
        properties["llm_observations"]["minLength"] = 1
    return {
        "type": "object",
        "properties": properties,
        "required": list(REQUIRED_KEYS),
        "additionalProperties": not strict,
    }


def answer_schema(request: AgentRequest, *, strict: bool) -> dict[str, Any]:
    """The schema this round's answer must match: a grader's or judge's verdict when the request
    says so, else the completion contract."""
    if request.answer is not None:
        return request.answer.strict_schema if strict else request.answer.schema
    return contract_schema(request.task.id, strict=strict)


def answer_instructions(request: AgentRequest, *, final: str) -> str:
    """What the agent is told to answer and how (`final`: how this CLI returns it)."""
    if request.answer is not None:
        return f"{request.answer.instructions} Give your {request.answer.name} as one JSON object. {final}"
    return contract_instructions(request, final=final)


class ArtifactUnwritable(LauncherError):
    """A file the launcher writes into a task's artifacts for its agent cannot be written."""

    default_key = "artifact_unwritable"


def write_schema(request: AgentRequest, schema: Mapping[str, Any]) -> Path:
    """Write the schema into the task's artifacts (kept for inspection) and return its path.

    The agent can write there (the run's state, in its repository's `.launcher/`): whatever it left at
    that name (a FIFO, a link, a directory) is replaced, never opened (`replace_file`)."""
    make_private_dirs(request.artifacts)
    path = request.artifacts / "contract.schema.json"
    try:
        replace_file(path, (json.dumps(schema, indent=1) + "\n").encode("utf-8"))
    except OSError as exc:
        raise ArtifactUnwritable(
            f"cannot write the answer's JSON Schema for the agent: {exc.strerror or exc}",
            where=str(path),
            fix="the agent may have changed the task's artifacts directory; remove what is at "
                "that path, then `launcher resume` the run",
        ) from None
    return path


def command_prefix(request: AgentRequest, default: str) -> list[str]:
    """The CLI's argv prefix: the agent config's `command` (a path, or e.g. `npx pkg`) or the
    default binary name, looked up on the agent's PATH when it is spawned."""
    return list(request.config.command) if request.config.command else [default]


def positional(text: str) -> str:
    """A prompt as one argv element that no option parser can mistake for a flag."""
    return " " + text if text.startswith("-") else text


def budget_usd(request: AgentRequest) -> float | None:
    """The tighter of the task's and the agent config's budget; None when neither sets one."""
    caps = [b for b in (request.task.budget_usd, request.config.budget_usd) if b is not None]
    return min(caps) if caps else None


def cli_env(
    request: AgentRequest,
    *,
    passthrough: Iterable[str] = (),
    defaults: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """base.agent_env plus the CLI's own auth/config variables and hardening defaults.

    `passthrough` names parent variables the CLI needs (its API key, its config dir); they are
    passed only if set. `defaults` are set unless the agent config sets them itself (`set_env`)
    or names them in `env` and the parent has them: what the user names wins.
    The parent's GIT_* never reach the agent.
    """
    env = agent_env(request)
    parent = os.environ
    for name in (*NETWORK_PASSTHROUGH, *passthrough):
        if name in parent and name not in env:
            env[name] = parent[name]
    named = {n for n in request.config.env if n in parent}
    for name, value in (defaults or {}).items():
        if name not in request.config.set_env and name not in named:
            env[name] = value
    return without_git_vars(env)


# --- sessions ----------------------------------------------------------------------------------


def _session_file(request: AgentRequest, adapter: str) -> Path:
    return request.artifacts / f"{adapter}.session"


def resume_session(request: AgentRequest, adapter: str) -> str | None:
    """The session to continue in this round, or None for a fresh one.

    `request.session_id` (set by the core) wins. Without it, a round that carries feedback (a
    corrective or revision round) continues the session the previous round of this task left
    in its artifacts, so the agent keeps its context when fixes come back.
    """
    if request.session_id:
        return request.session_id
    if request.feedback_path is None:
        return None
    try:  # only a regular file, never blocking: the agent can put anything at that path
        found = read_regular(_session_file(request, adapter), 4096).decode("utf-8", "replace").strip()
    except OSError:
        return None
    return clean_session_id(found)


def remember_session(request: AgentRequest, adapter: str, outcome: AgentOutcome) -> None:
    """Keep the session id for a later round; only a session the CLI really holds (an API or
    start-up failure may have created none, and resuming it would fail the next round too).

    The file is in the agent's reach: it is replaced atomically, never opened in place (a FIFO
    there would block the launcher's event loop in `open()`); a session that cannot be kept
    only means a fresh session next round."""
    path = _session_file(request, adapter)
    session_id = clean_session_id(outcome.session_id)
    with contextlib.suppress(OSError):
        if session_id and outcome.error_kind not in ("api_error", "crashed", "cli_missing"):
            replace_file(path, (session_id + "\n").encode("utf-8"))
        elif not outcome.ok:
            remove_any(path)


# --- prompts -----------------------------------------------------------------------------------


def contract_instructions(request: AgentRequest, *, final: str) -> str:
    """What every CLI agent is told about the completion contract. `final` says how this CLI
    returns it (structured output, final message)."""
    return (
        "You are one specialist of a team working in parallel, each in its own git worktree. "
        f"Work only inside {request.worktree}; do not commit, the launcher commits for you.\n"
        f"When you are done, give your completion contract for task {request.task.id!r}: one JSON "
        f"object with the keys {', '.join(REQUIRED_KEYS)}. {final}\n"
        f"Contract rules: contract_version \"1\"; task_id {request.task.id!r}; status one of "
        f"{'|'.join(CONTRACT_STATUSES)}; files_changed, tests_added, decisions and blockers arrays of "
        "strings (files_changed: every file this task changed, its earlier rounds' included); "
        "llm_observations non-empty text."
    )


def _feedback_text(path: Path) -> str:
    try:  # a regular file only, never blocking (the feedback file lies in the agent's reach)
        data = read_regular(path, FEEDBACK_INLINE_LIMIT + 1)
    except OSError:
        return ""
    if len(data) > FEEDBACK_INLINE_LIMIT:  # bytes, not characters: the argument's limit is in bytes
        return (data[:FEEDBACK_INLINE_LIMIT].decode("utf-8", "ignore")
                + "\n[... truncated; read the whole file]").strip()
    return data.decode("utf-8", "replace").strip()


def round_prompt(request: AgentRequest, *, resumed: bool) -> str:
    """The prompt of this round: the task, or (with feedback) what must be fixed.

    A resumed session already holds the task, so it gets only the feedback; a fresh session
    gets the task followed by the feedback.
    """
    task = request.task
    base = task.prompt.strip() or task.title or f"Task {task.id}"
    if request.feedback_path is None:
        return base
    feedback = _feedback_text(request.feedback_path)
    fixes = (
        f"Your previous attempt at this task needs fixes (round {request.iteration}). "
        f"The required fixes are in {request.feedback_path} ($LAUNCHER_FEEDBACK)"
        + (f":\n\n{feedback}\n\n" if feedback else ".\n\n")
        + "Address every one of them, then give the completion contract again."
    )
    return fixes if resumed else f"{base}\n\n---\n\n{fixes}"


# --- output ------------------------------------------------------------------------------------


def parse_json_text(text: str) -> Any:
    """The JSON document a CLI printed: the whole text, else its last top-level object (some
    CLIs print a log line or two before it). None if there is none."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return json_loads(stripped, duplicate_keys=True)  # what the CLI itself printed
    except json.JSONDecodeError:
        return last_json_object(stripped)


def int_fields(data: object) -> dict[str, int]:
    """The integer-valued top-level fields of a usage object (nested objects are dropped)."""
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}


def as_float(value: object) -> float | None:
    """A JSON number as a finite float, else None (never an OverflowError for a huge integer)."""
    return finite_number(value)


# A note an adapter adds to its round is at most this long (it quotes what the CLI printed).
NOTE_LIMIT = 1000


def note_on(result: Supervised, text: str) -> None:
    """Add a note to the round (the task's notes, `launcher status`, the facts the grader reads):
    something the CLI did that does not fail the round but that the user should know."""
    result.notes.append(text if len(text) <= NOTE_LIMIT else text[:NOTE_LIMIT] + "…")


def tail(text: str, limit: int = 500) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def finish_session(request: AgentRequest, adapter: str, outcome: AgentOutcome, result: Supervised) -> AgentOutcome:
    """`finish`, then keep the session id for the next round (the CLIs that resume sessions)."""
    final = with_option_hint(finish(outcome, result), request, adapter, result.stderr, result.stdout)
    remember_session(request, adapter, final)
    return final


def finish(outcome: AgentOutcome, result: Supervised) -> AgentOutcome:
    """Let a wall-clock timeout or a stall override what the output said, keeping what was
    measured (tokens, cost, session). A kill whose output ended with an interactive prompt names
    it (`exit_outcome`); a stall with one in the last few lines of the output names that one."""
    if not (result.timed_out or result.stalled):
        return outcome
    base = exit_outcome(result)
    message = base.message
    if result.stalled and prompt_diagnosis(result) is None:  # the inactivity timeout
        prompt = recent_prompt(result.stdout) or recent_prompt(result.stderr)
        if prompt:
            message = f"stalled on an interactive prompt ({prompt!r}); {message}"
    return replace(
        outcome, ok=False, error_kind=base.error_kind, message=message, structured_output=None
    )
