"""The `opencode` adapter: `opencode run --format json [--model M] [--session ID] -- PROMPT`.

Facts about the real CLI (`packages/opencode/src/cli/cmd/run.ts`):

- `--format json` writes one JSON event per line on stdout, each
  `{"type", "timestamp", "sessionID", ...}`, and **no final summary object**:
  `step_start` / `step_finish` (`part.reason`: the AI SDK's finish reason of that step, "stop"
  or "tool-calls" normally; "length" when the model hit its output limit mid-answer,
  "content-filter" when the provider's filter cut it, "error"; `part.cost` in USD,
  `part.tokens {input, output, reasoning, cache {read, write}}`), `text` (a finished text part,
  `part.text`, `part.messageID`), `reasoning`, `tool_use` (a finished tool call,
  `part.tool`, `part.state.status` "completed" or "error", `part.state.error`) and `error`
  (`error.name` such as `ProviderAuthError`, `APIError`, `UnknownError`,
  `MessageOutputLengthError`, `MessageAbortedError`, with `error.data.message`).
- `run` exits 0 whatever the last step's reason: a last step that ended "length",
  "content-filter" or "error" is an unfinished answer, and the round fails for it
  (`output_limit`, `content_filtered`, `api_error`: `_UNFINISHED`).
- The final message is the last text part (the text parts of the last message, joined).
- In `run` mode every permission that would "ask" is rejected automatically; the tool call then
  fails with "The user rejected permission to use this specific tool call." and the session
  stops. That is reported as `permission_denied`.
- Positional words are joined with spaces, so the prompt is passed after `--` as one element
  (a prompt starting with `-` is never taken for an option).
- Anything on stdout that is not a JSON event (a warning, a stack trace) is ignored, never fatal.

- The cause of most failures is only in opencode's log (see opencode_log): `--print-logs
  --log-level ERROR` puts its ERROR lines on stderr (agent.log), where an `UnknownError` event's
  cause is found by its `ref`, and where an API it cannot reach shows as connection errors
  retried forever, a run of which ends the round (`give_up`) or names the cause of a kill.

`OPENCODE_DISABLE_AUTOUPDATE=1` stops its background update check. `permission_mode = "allow"`
(or `bypassPermissions`) allows edit, bash and webfetch through `OPENCODE_PERMISSION`;
`acceptEdits` allows edits only; otherwise opencode's own configuration applies.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from launcher.agents.auth_hints import opencode_fix, with_login_hint
from launcher.agents.base import AgentOutcome, AgentRequest, Invocation, RoundLines, clean_session_id, finite_number
from launcher.agents.cli_common import (
    answer_instructions,
    cli_env,
    command_prefix,
    finish_session,
    resume_session,
    round_prompt,
)
from launcher.agents.opencode_log import LOG_DIR, LOG_FLAGS, OpencodeLog, parse_log
from launcher.agents.packet_access import packet_inside
from launcher.agents.provider_keys import model_provider_keys
from launcher.models.decoding import json_loads
from launcher.process import Supervised

BINARY = "opencode"
INSTALL_HINT = "npm install -g opencode-ai"
# opencode's own configuration, passed on when set. Of the provider keys it reads, only the one
# of the agent's `model` is (provider_keys); any other, GITHUB_TOKEN included, must be named in `env`.
PASSTHROUGH = ("OPENCODE_CONFIG", "OPENCODE_CONFIG_DIR", "OPENCODE_CONFIG_CONTENT")
# The answer travels in the final message only: $LAUNCHER_CONTRACT lies outside the working
# directory, and `run` mode auto-rejects a write there (`external_directory`), which stops the
# session: a model offered the file would end its round as permission_denied, its work done.
FINAL = (
    "End your final message with exactly that JSON object, in a ```json block (the launcher reads "
    "the last JSON object of your final message); write it to no file."
)

_PERMISSION_REJECTED = re.compile(
    r"(rejected permission to use this specific tool call|"
    r"specified a rule which prevents you from using this specific tool call)",
    re.IGNORECASE,
)
# What `run` prints on stderr when it auto-rejects a path outside its directory.
_EXTERNAL_ASKED = re.compile(r"permission requested: external_directory \(([^)\n]{1,300})\)")
_API_ERROR_NAMES = {"ProviderAuthError", "APIError"}
_API_TEXT = re.compile(
    r"(api[ _-]?key|unauthori[sz]ed|authenticat|\b401\b|\b403\b|\b429\b|rate.?limit|quota|"
    r"credit|billing|overloaded|ProviderModelNotFoundError|model not found)",
    re.IGNORECASE,
)


TEXT_KEPT = 1024 * 1024  # characters of the final message kept (its end: the contract is there)
TOOLS_KEPT = 200  # the last tool calls kept for the report; all are counted
DENIALS_KEPT = 20


@dataclass
class OpencodeEvents:
    """What a `--format json` event stream said, read one line at a time (every line as it
    streams, or the lines of the kept tail), leniently: a field of the wrong type counts as
    absent. Bounded whatever the stream's length: sums and counts, the last message's text (its
    last TEXT_KEPT characters), the last TOOLS_KEPT tool calls, the first DENIALS_KEPT denials."""

    session_id: str | None = None
    tools: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=TOOLS_KEPT))
    tool_calls: int = 0
    last_error: tuple[str, str] | None = None  # (name, message)
    last_error_ref: str | None = None  # its `data.ref`: the line of opencode's log with the cause
    denials: list[str] = field(default_factory=list)
    denial_count: int = 0
    cost: float = 0.0
    cost_seen: bool = False
    tokens: dict[str, int] = field(
        default_factory=lambda: {"input": 0, "output": 0, "reasoning": 0, "cache_read": 0, "cache_write": 0}
    )
    steps: int = 0
    last_reason: str | None = None
    events: int = 0
    noise: int = 0
    _message_id: str | None = None
    _texts: deque[str] = field(default_factory=deque)
    _text_chars: int = 0

    @property
    def final_text(self) -> str:
        """The last message: its text parts joined (the last text part alone if it has no id)."""
        return "\n".join(self._texts)

    def line(self, raw: bytes | str) -> None:
        text = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).strip()
        if not text:
            return
        try:
            event = json_loads(text, duplicate_keys=True)  # the CLI's own stream
        except json.JSONDecodeError:
            self.noise += 1
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self.noise += 1
            return
        self.events += 1
        self.session_id = clean_session_id(event.get("sessionID")) or self.session_id
        self._event(event["type"], event, _obj(event.get("part")))

    def _event(self, kind: str, event: dict[str, Any], part: dict[str, Any]) -> None:
        if kind == "text":
            text = part.get("text")
            if isinstance(text, str) and text.strip():
                message_id = part.get("messageID") if isinstance(part.get("messageID"), str) else None
                self._text(message_id, text)
        elif kind == "tool_use":
            state = _obj(part.get("state"))
            status = state.get("status")
            tool = str(part.get("tool") or "tool")
            entry = {"tool": tool, "status": status, "title": state.get("title")}
            if status == "error":
                error_text = str(state.get("error") or "")
                entry["error"] = error_text
                if _PERMISSION_REJECTED.search(error_text):
                    self.denial_count += 1
                    if len(self.denials) < DENIALS_KEPT:
                        self.denials.append(f"{tool}: {error_text}")
            self.tools.append(entry)
            self.tool_calls += 1
        elif kind == "step_start":
            self.steps += 1
        elif kind == "step_finish":
            cost = finite_number(part.get("cost"))
            if cost is not None:
                self.cost += cost
                self.cost_seen = True
            tokens = _obj(part.get("tokens"))
            cache = _obj(tokens.get("cache"))
            self.tokens["input"] += _int(tokens.get("input"))
            self.tokens["output"] += _int(tokens.get("output"))
            self.tokens["reasoning"] += _int(tokens.get("reasoning"))
            self.tokens["cache_read"] += _int(cache.get("read"))
            self.tokens["cache_write"] += _int(cache.get("write"))
            if isinstance(part.get("reason"), str):
                self.last_reason = part["reason"]
        elif kind == "error":
            self.last_error = _error_fields(event.get("error"))
            ref = _obj(_obj(event.get("error")).get("data")).get("ref")
            self.last_error_ref = ref if isinstance(ref, str) else None

    def _text(self, message_id: str | None, text: str) -> None:
        if message_id is None or message_id != self._message_id:
            self._texts.clear()
            self._text_chars = 0
        self._message_id = message_id
        self._texts.append(text)
        self._text_chars += len(text) + 1
        while self._text_chars > TEXT_KEPT and len(self._texts) > 1:
            self._text_chars -= len(self._texts.popleft()) + 1
        if self._text_chars > TEXT_KEPT:  # one part larger than all that is kept: its end
            self._texts[0] = self._texts[0][-TEXT_KEPT:]
            self._text_chars = len(self._texts[0]) + 1


def _obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (input is read leniently)."""
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    """A token count: a JSON integer, or a finite number rounded down; 0 for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = finite_number(value)
    return int(number) if number is not None else 0


def _error_fields(error: Any) -> tuple[str, str]:
    if not isinstance(error, dict):
        return "Error", str(error)
    name = str(error.get("name") or "Error")
    data = error.get("data")
    message = ""
    if isinstance(data, dict):
        message = str(data.get("message") or data.get("responseBody") or "")
    message = message or str(error.get("message") or "")
    return name, message


def parse_events(stdout: str) -> OpencodeEvents:
    """The events of a whole text (the kept tail of stdout, when the adapter was not fed)."""
    seen = OpencodeEvents()
    for line in stdout.split("\n"):  # as the stream is split: never at a U+2028 inside a string
        seen.line(line)
    return seen


def _tail_lines(text: str, n: int = 15) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-n:])


class OpencodeAdapter:
    name = "opencode"
    binary = BINARY
    install_hint = INSTALL_HINT
    # stderr is its log (LOG_FLAGS): ERROR lines of a retry that never ends are not progress, so
    # only its stdout (JSON events) and file changes reset the inactivity clock (base.stderr_is_activity).
    stderr_is_activity = False

    def __init__(self) -> None:
        self._lines = RoundLines(OpencodeEvents)
        self._log = RoundLines(OpencodeLog)

    def stdout_line(self, line: bytes) -> None:
        """Every stdout line as it streams (base.StreamingAdapter): every step's cost and
        tokens are summed however long the stream grows."""
        before = self._lines.peek().events
        self._lines.feed(line)
        if self._lines.peek().events != before:
            self._log.peek().progress()

    def stderr_line(self, line: bytes) -> None:
        """Every line of its log as it streams (base.StderrStreamingAdapter)."""
        self._log.feed(line)

    def give_up(self) -> str | None:
        """opencode retries an API it cannot reach forever, printing no event (base.GivingUpAdapter)."""
        log = self._log.peek()
        return log.network_trouble() if log.hopeless(time.monotonic()) else None

    def invocation(self, request: AgentRequest) -> Invocation:
        self._lines.fresh()
        self._log.fresh()
        request = packet_inside(request)  # `run` mode auto-rejects external_directory reads
        config = request.config
        resumed = resume_session(request, self.name)
        argv = [*command_prefix(request, BINARY), "run", "--format", "json"]
        if not any(arg.split("=")[0] in ("--print-logs", "--log-level") for arg in config.extra_args):
            argv += LOG_FLAGS
        if config.model:
            argv += ["--model", config.model]
        if resumed:
            argv += ["--session", resumed]
        argv += config.extra_args
        prompt = round_prompt(request, resumed=resumed is not None)
        prompt += "\n\n" + answer_instructions(request, final=FINAL)
        argv += ["--", prompt]  # after `--`: one message, never an option
        defaults = {"OPENCODE_DISABLE_AUTOUPDATE": "1"}
        permission = _permission_json(config.permission_mode)
        if permission and "OPENCODE_PERMISSION" not in config.env:
            defaults["OPENCODE_PERMISSION"] = permission
        passthrough = (*PASSTHROUGH, *model_provider_keys(config.model))
        return Invocation(argv, cli_env(request, passthrough=passthrough, defaults=defaults))

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        outcome = finish_session(request, self.name, self._read(request, result), result)
        if result.timed_out or result.stalled:
            log = self._log.read(lambda: parse_log(result.stderr))
            trouble = log.network_trouble()
            if trouble:
                outcome.message += f"; {trouble}: check the network or proxy (HTTPS_PROXY)"
            elif (cause := log.cause_of(None)) is not None:
                outcome.message += f"; opencode's log: {cause}"
        return outcome

    def _read(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        seen = self._lines.read(lambda: parse_events(result.stdout))
        log = self._log.read(lambda: parse_log(result.stderr))
        common: dict[str, Any] = {
            "final_text": seen.final_text,
            "tokens": dict(seen.tokens) if seen.steps or seen.cost_seen else None,
            "cost_usd": round(seen.cost, 6) if seen.cost_seen else None,
            "session_id": seen.session_id,
            "extra": {"tools": list(seen.tools), "tool_calls": seen.tool_calls,
                      "permission_denials": seen.denials, "non_json_lines": seen.noise},
        }
        if result.gave_up:  # its connection errors went on without end (give_up)
            return AgentOutcome(
                False, "api_error",
                f"{result.gave_up}; ended by the launcher: check the network or proxy (HTTPS_PROXY)", **common,
            )
        error = seen.last_error
        error_text = f"{error[0]}: {error[1]}".strip(": ") if error else ""
        if error is not None and error[0] == "UnknownError":
            # "Unexpected server error. Check server logs for details.": the cause is in its log.
            cause = log.cause_of(seen.last_error_ref)
            error_text += f" (opencode's log: {cause})" if cause else f" (opencode's log is in {LOG_DIR})"
        is_api = error is not None and (error[0] in _API_ERROR_NAMES or bool(_API_TEXT.search(error_text)))
        if error is not None and (is_api or not seen.denials):
            hint = _model_hint(error_text, request) if is_api else ""
            message = f"opencode {error_text}{hint}"
            if is_api and not hint:  # a provider without a key, or a key refused
                message = with_login_hint(message, opencode_fix(request.agent_name, request.config.model))
            return AgentOutcome(False, "api_error" if is_api else "crashed", message, **common)
        if seen.denials:
            # A path outside its directory asks for `external_directory`, which no permission_mode
            # allows (they allow edit, bash, webfetch): only opencode's configuration can.
            outside = _EXTERNAL_ASKED.search(result.stderr)
            fix = (f"it asked for external_directory ({outside.group(1)}): paths outside its working "
                   "directory are allowed only in opencode's configuration (permission.external_directory)"
                   if outside else
                   f"set permission_mode = \"allow\" in [agents.{request.agent_name}] or allow it in "
                   "opencode's configuration")
            return AgentOutcome(
                False, "permission_denied",
                f"opencode stopped: {seen.denial_count} tool call(s) rejected for lack of "
                f"permission ({seen.denials[0]}); {fix}",
                **common,
            )
        if result.returncode != 0:
            tail = _tail_lines(result.stderr) or _tail_lines(result.stdout)
            kind = "api_error" if _API_TEXT.search(tail) else "crashed"
            return AgentOutcome(
                False, kind, f"opencode exited with code {result.returncode}: {tail}".rstrip(": "), **common
            )
        if (unfinished := _UNFINISHED.get(seen.last_reason or "")) is not None:
            kind, why = unfinished
            return AgentOutcome(False, kind, f"opencode stopped: {why} (last step's finish reason "
                                             f"{seen.last_reason!r})", **common)
        if seen.events == 0:
            return AgentOutcome(
                False, "crashed",
                "opencode printed no JSON event (is this version too old for --format json?): "
                + (_tail_lines(result.stdout, 5) or _tail_lines(result.stderr, 5) or "no output"),
                **common,
            )
        return AgentOutcome(True, message=f"opencode finished ({seen.steps} step(s))", **common)


# The last step's finish reasons that leave the answer unfinished, though opencode exits 0
_UNFINISHED = {
    "length": ("output_limit", "the model hit its output token limit mid-answer; its work may be "
                               "unfinished: raise the model's output limit in opencode's configuration, "
                               "or give it a smaller task"),
    "content-filter": ("content_filtered", "the provider's content filter cut the model's answer off"),
    "error": ("api_error", "the model's last step ended in an error"),
}


_MODEL_NOT_FOUND = re.compile(r"ProviderModelNotFoundError|model not found", re.IGNORECASE)


def _model_hint(error_text: str, request: AgentRequest) -> str:
    """How to fix an unknown model: opencode says so too when its provider has no key."""
    if not _MODEL_NOT_FOUND.search(error_text):
        return ""
    return (f"; opencode knows no such model, or its provider has no API key: check model = "
            f"{request.config.model or '(none)'!r} in [agents.{request.agent_name}] (`opencode models` "
            f"lists them) and set the provider's key (e.g. ANTHROPIC_API_KEY) in the launcher's "
            f"environment, or run `opencode auth login`")


def _permission_json(mode: str | None) -> str | None:
    if mode in ("allow", "bypassPermissions"):
        return json.dumps({"edit": "allow", "bash": "allow", "webfetch": "allow"})
    if mode == "acceptEdits":
        return json.dumps({"edit": "allow"})
    return None
