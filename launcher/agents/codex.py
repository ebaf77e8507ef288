"""The Codex CLI adapter: `codex exec --json ... --output-schema FILE -o LASTMSG PROMPT`.

What the real CLI does (DESIGN 6): JSONL events on stdout — `thread.started` (the thread id,
which `codex exec resume` takes), `turn.started`, `item.started|updated|completed` (items of type
agent_message, reasoning, command_execution, file_change, mcp_tool_call, error, ...), then
`turn.completed` (usage: the thread's running total, see codex_usage; Codex reports no cost) or
`turn.failed` (error.message). A top-level `error` event is every error codex's app server
reports, retried ones included (exec's event_processor_with_jsonl_output.rs drops `will_retry`):
in 0.171 each retry notice starts with "Reconnecting..." ("Reconnecting... N/M", "Reconnecting...
waiting for network"); other builds word theirs otherwise ("stream error: ...; retrying N/M in
...", "Waiting for usage limit to reset..."). So an `error` is fatal unless it is a reconnect
notice or the turn went on to `turn.completed` and codex exited 0 (it retried and recovered: a
note on the task). The final agent_message, which `--output-schema` constrains to the
contract, is also written to the `-o` file.

When its API cannot be reached, codex (0.171) never gives up: after "Reconnecting... 2/5 (...)"
to "5/5" and a fallback from WebSockets to HTTPS it prints `{"type":"error","message":
"Reconnecting... waiting for network (Connection failed: error sending request)"}` forever (at
about 10, 19, 32, 55, 98 s, then every 63 s), so neither timeout would end it before the wall
clock. A run of RECONNECTS_GIVE_UP such notices in a row, spanning RECONNECT_SPAN_S or more, with
no other event between them, ends the round as `api_error` naming the last one (`give_up`); a
round killed by a timeout or a stall during such a run names it too.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.agents.auth_hints import codex_fix, with_login_hint
from launcher.agents.base import AgentOutcome, AgentRequest, Invocation, RoundLines, clean_session_id, exit_outcome
from launcher.agents.cli_common import (
    answer_instructions,
    answer_schema,
    cli_env,
    command_prefix,
    finish_session,
    note_on,
    positional,
    resume_session,
    round_prompt,
    tail,
    write_schema,
)
from launcher.agents.codex_usage import process_spend
from launcher.agents.packet_access import packet_inside
from launcher.models.decoding import json_loads
from launcher.process import Supervised
from launcher.regular_files import read_regular, remove_any

DEFAULT_SANDBOX = "workspace-write"
SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")

# Parent variables Codex reads for authentication and configuration.
PASSTHROUGH = ("OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORGANIZATION", "CODEX_HOME")

# Reconnect notices in a row (no other event between them) and the seconds they must span before
# the round gives up: a short outage (a few notices, under a minute) is waited out; an
# unreachable API ends the round after about 100 s with real codex, not after `timeout_s`.
RECONNECTS_GIVE_UP = 5
RECONNECT_SPAN_S = 60.0
_TOKEN_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
LAST_MESSAGE_CAP = 4 * 1024 * 1024  # bytes of the -o file read (the answer is one JSON object)
FILES_KEPT = 1000  # paths of file_change items kept for the report


@dataclass
class CodexEvents:
    """What the `--json` event stream said, read one line at a time (every line as it streams,
    or the lines of the kept tail), leniently: a field of the wrong type counts as absent.
    Bounded whatever the stream's length: counts, the last message, the first FILES_KEPT paths."""

    thread_id: str | None = None
    tokens: dict[str, int] = field(default_factory=dict)  # the thread's running total, last reported
    final: str | None = None
    failed: str | None = None
    fatal: str | None = None
    recovered: str | None = None  # the first error event the turn went on past to turn.completed
    completed: bool = False
    files: list[str] = field(default_factory=list)
    commands_failed: int = 0
    events: int = 0
    reconnect: str | None = None  # the last "Reconnecting..." notice of the current run of them
    reconnects: int = 0  # notices in that run (any other event ends it)
    reconnect_since: float | None = None  # when the run's first notice was read (monotonic)

    def line(self, raw: bytes | str) -> None:
        text = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).strip()
        if not text.startswith("{"):
            return
        try:
            event = json_loads(text, duplicate_keys=True)  # the CLI's own stream
        except json.JSONDecodeError:
            return
        if isinstance(event, dict) and "type" in event:
            self.events += 1
            self._event(event)

    def network_trouble(self) -> str | None:
        """The run of reconnect notices still going on, as a cause for a message, or None."""
        if not self.reconnect:
            return None
        return f"codex cannot reach its API: {self.reconnect} ({self.reconnects} reconnect notice(s) in a row)"

    def hopeless(self, now: float) -> bool:
        """RECONNECTS_GIVE_UP notices in a row, spanning RECONNECT_SPAN_S (lines read as they streamed)."""
        return (self.reconnects >= RECONNECTS_GIVE_UP and self.reconnect_since is not None
                and now - self.reconnect_since >= RECONNECT_SPAN_S)

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        message = str(event.get("message") or "") if kind == "error" else ""
        if message.startswith("Reconnecting"):
            if not self.reconnects:
                self.reconnect_since = time.monotonic()
            self.reconnects += 1
            self.reconnect = message[:500]
            return
        self.reconnect, self.reconnects, self.reconnect_since = None, 0, None
        if kind == "thread.started":
            self.thread_id = clean_session_id(event.get("thread_id")) or self.thread_id
        elif kind == "turn.completed":
            self.completed = True
            if self.fatal is not None:  # the turn went on past it: retried (exit code decides)
                self.recovered = self.recovered or self.fatal
                self.fatal = None
            usage = _obj(event.get("usage"))
            # The thread's total so far (never the turn's own): the last one reported counts.
            total = {k: v for k in _TOKEN_KEYS
                     if isinstance(v := usage.get(k), int) and not isinstance(v, bool)}  # fmt: skip
            if total:
                self.tokens = total
        elif kind == "turn.failed":
            self.failed = str(_obj(event.get("error")).get("message") or "turn failed")
        elif kind == "error":
            self.fatal = message or "error"
        elif kind == "item.completed":
            item = _obj(event.get("item"))
            item_type = item.get("type")
            if item_type == "agent_message" and isinstance(item.get("text"), str):
                self.final = item["text"]
            elif item_type == "file_change":
                changes = item.get("changes")
                for change in changes if isinstance(changes, list) else []:
                    path = _obj(change).get("path")
                    if isinstance(path, str) and len(self.files) < FILES_KEPT:
                        self.files.append(path)
            elif item_type == "command_execution" and item.get("status") == "failed":
                self.commands_failed += 1


class CodexAdapter:
    name = "codex"
    binary = "codex"
    install_hint = "npm install -g @openai/codex, then `codex login` (or name OPENAI_API_KEY in the agent's env)"

    def __init__(self) -> None:
        self._resumed: str | None = None
        self._lines = RoundLines(CodexEvents)

    def stdout_line(self, line: bytes) -> None:
        """Every stdout line as it streams (base.StreamingAdapter): the thread id of the first
        event is kept however long the stream grows."""
        self._lines.feed(line)

    def give_up(self) -> str | None:
        """codex retries an API it cannot reach forever (base.GivingUpAdapter): see the module's doc."""
        seen = self._lines.peek()
        return seen.network_trouble() if seen.hopeless(time.monotonic()) else None

    def last_message_path(self, request: AgentRequest) -> Path:
        return request.artifacts / "codex-last-message.txt"

    def invocation(self, request: AgentRequest) -> Invocation:
        request = packet_inside(request)  # the sandbox reads only its workspace
        config = request.config
        resumed = resume_session(request, self.name)
        self._resumed = resumed
        self._lines.fresh()
        schema_path = write_schema(request, answer_schema(request, strict=True))
        last_message = self.last_message_path(request)
        # Never read a previous round's answer; whatever the agent made of that path (a
        # directory, a FIFO) goes too, so codex can write it and it is never opened blocking.
        remove_any(last_message)
        mode = config.permission_mode or DEFAULT_SANDBOX
        sandbox: str | None = None
        if mode == "bypassPermissions":
            # Only when the user's config asks for it: no sandbox and no approvals at all.
            access = ["--dangerously-bypass-approvals-and-sandbox"]
        else:
            sandbox = mode if mode in SANDBOX_MODES else DEFAULT_SANDBOX
            access = ["--sandbox", sandbox]
        instructions = answer_instructions(
            request,
            final=(
                "Your final message must be exactly that JSON object and nothing else "
                "(it is validated against a JSON Schema)."
            ),
        )
        prompt = round_prompt(request, resumed=resumed is not None) + "\n\n" + instructions
        # `resume` takes only the session and the prompt: every option goes before it (the
        # sandbox, -C and --output-schema are options of `codex exec` itself, not global ones).
        argv = [
            *command_prefix(request, self.binary), "exec",
            "--json",
            *access,
            "-C", str(request.worktree),
            "--skip-git-repo-check",
            "--output-schema", str(schema_path),
            "-o", str(last_message),
        ]
        if config.model:
            argv += ["-m", config.model]
        argv += config.extra_args
        if resumed:
            argv += ["resume", resumed]
            if sandbox:
                # `exec resume` applies no --sandbox given to `exec` (openai/codex#40149): the resumed
                # turn would run read-only. A config override after `resume` is what it reads.
                argv += ["-c", f'sandbox_mode="{sandbox}"']
        argv.append(positional(prompt))
        return Invocation(argv, cli_env(request, passthrough=PASSTHROUGH))

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        outcome = finish_session(request, self.name, self._read(request, result), result)
        trouble = self._lines.read(lambda: parse_events(result.stdout)).network_trouble()
        if trouble and (result.timed_out or result.stalled):
            outcome.message = f"{outcome.message}; {trouble}: check the network or proxy (HTTPS_PROXY)"
        return outcome

    def _read(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        seen = self._lines.read(lambda: parse_events(result.stdout))
        final = seen.final
        try:
            raw = read_regular(self.last_message_path(request), LAST_MESSAGE_CAP)
        except OSError:
            raw = None
        last_message = None if raw is None else raw.decode("utf-8", "replace")
        if last_message is not None and last_message.strip():
            final = last_message
        failed, fatal = seen.failed, seen.fatal
        if result.gave_up:  # its reconnects went on without end (give_up)
            failed = f"{result.gave_up}; ended by the launcher: check the network or proxy (HTTPS_PROXY)"
        thread = seen.thread_id or self._resumed
        spend = process_spend(request, thread, self._resumed, seen.tokens)
        if spend.note:
            note_on(result, spend.note)
        outcome = AgentOutcome(
            ok=False,
            final_text=final or "",
            tokens=spend.tokens or None,  # this process's own spend, not the thread's total
            cost_usd=None,  # Codex reports tokens, not money
            session_id=thread,
            extra={"files_reported": seen.files, "commands_failed": seen.commands_failed},
        )
        if fatal is None and seen.recovered is not None and result.returncode != 0:
            fatal = seen.recovered  # codex exited non-zero after it: not a retried one
        if failed is not None or fatal is not None:
            outcome.error_kind = "api_error"
            outcome.message = with_login_hint(failed or fatal or "", codex_fix(request.agent_name))
            return outcome
        if seen.recovered is not None:
            note_on(result, "codex reported an error and then completed its turn and exited 0 "
                            f"(it retried and recovered): {seen.recovered[:240]!r}")
        if not seen.events or (result.returncode != 0 and not seen.completed):
            base = exit_outcome(result)
            outcome.error_kind = "crashed"
            outcome.message = base.message if not base.ok else (
                f"codex printed no JSON events: {tail(result.stdout + result.stderr) or '(no output)'}"
            )
            return outcome
        if result.returncode != 0:
            outcome.error_kind = "crashed"
            outcome.message = f"exit code {result.returncode}: {tail(result.stderr)}".rstrip(": ")
            return outcome
        structured = _json_object(final)
        if structured is None and not request.contract_path.is_file():
            outcome.error_kind = "no_structured_output"
            outcome.message = (
                "codex's final message is not the JSON object --output-schema asks for"
                + (f": {tail(final, 300)}" if final else " (it sent no agent_message)")
            )
            return outcome
        outcome.ok = True
        outcome.message = "codex finished"
        outcome.structured_output = structured
        return outcome


def parse_events(stdout: str) -> CodexEvents:
    """The events of a whole text (the kept tail of stdout, when the adapter was not fed)."""
    seen = CodexEvents()
    for line in stdout.split("\n"):  # as the stream is split: never at a U+2028 inside a string
        seen.line(line)
    return seen


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text or not text.strip():
        return None
    try:
        value = json_loads(text.strip())
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
