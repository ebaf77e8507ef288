"""The Claude Code adapter: `claude -p PROMPT --output-format json ...`, contract via --json-schema.

What the real CLI does (DESIGN 6): it prints one JSON `result` object. Success only if the exit
code is 0, `is_error` is false and `subtype` is "success". API errors come back as subtype
"success" with `is_error: true` and exit 1 (the API's message in `result`); `error_max_turns`,
`error_max_budget_usd`, `error_during_execution` and `error_max_structured_output_retries` carry
no `result` but an `errors` list; tool uses denied by the permission mode still end in "success"
with a non-empty `permission_denials` (`{tool_name, tool_use_id, tool_input}`); with
`--json-schema` the answer is in `structured_output`. A denied file write (Write, Edit, MultiEdit,
NotebookEdit) fails the round: the work it claims was not made. A denied tool that writes no file
(Bash under acceptEdits, WebFetch, Read, ...) does not: the agent went on without it, and the
launcher's checks and the grader judge the work; the denial is a note on the task. A denial the
adapter cannot classify (an MCP tool, an unknown name, an entry of another shape) stays fatal.
With verbose on (`--verbose` in `extra_args`, or `"verbose": true` in the user's
~/.claude/settings.json, which the launcher cannot see) the CLI prints instead ONE JSON array of
its messages (`system`/`init`, `assistant`, `user`, ...) whose last `result` message is that same
object (anthropics/claude-code#84784): it is read from there. A "success" whose `terminal_reason`
says the CLI stopped the run unfinished (a hook, an interrupt) fails: agents/claude_terminal.py.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from launcher.agents.auth_hints import claude_fix, with_login_hint
from launcher.agents.base import AgentOutcome, AgentRequest, Invocation, clean_session_id, exit_outcome
from launcher.agents.claude_terminal import terminal_reason
from launcher.agents.cli_common import (
    answer_instructions,
    answer_schema,
    as_float,
    budget_usd,
    cli_env,
    command_prefix,
    finish_session,
    int_fields,
    note_on,
    parse_json_text,
    positional,
    resume_session,
    round_prompt,
    tail,
    write_schema,
)
from launcher.agents.packet_access import outside_dirs
from launcher.process import Supervised

DEFAULT_PERMISSION_MODE = "acceptEdits"
# Claude Code retries an unreachable or overloaded API ten times with backoff by default:
# minutes of silence before the failure surfaces. Two retries are enough for a blip.
DEFAULT_MAX_RETRIES = "2"

# Parent variables Claude Code reads for authentication and configuration.
PASSTHROUGH = (
    "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_CUSTOM_HEADERS", "CLAUDE_CONFIG_DIR",
    "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "ANTHROPIC_VERTEX_PROJECT_ID",
    "CLOUD_ML_REGION", "AWS_REGION", "AWS_PROFILE",
)

# Claude Code's built-in tools that write files (code.claude.com/docs/en/tools-reference; "Edit
# rules apply to all built-in tools that edit files"): a denied one means work was not made.
WRITE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
# Built-in tools that write no file: a denied one is a note, the agent went on without it. Bash
# can write through the shell, but what it left is what the launcher commits and checks.
OTHER_TOOLS = frozenset({
    "Agent", "Task", "AskUserQuestion", "Bash", "BashOutput", "KillShell", "KillBash", "PowerShell",
    "Glob", "Grep", "LS", "Read", "NotebookRead", "WebFetch", "WebSearch", "TodoWrite", "TodoRead",
    "ExitPlanMode", "EnterPlanMode", "Skill", "SlashCommand", "ToolSearch", "LSP", "Monitor",
    "ListMcpResourcesTool", "ReadMcpResourceTool",
})
DENIALS_SHOWN = 5
DENIAL_QUOTE = 120  # characters of a denied call's input quoted (five fit in one note)

_SUBTYPE_KINDS = {
    "error_max_turns": "max_turns",
    "error_max_budget_usd": "budget_exceeded",
    "error_max_structured_output_retries": "no_structured_output",
    "error_during_execution": "api_error",
}



class ClaudeAdapter:
    name = "claude"
    binary = "claude"
    install_hint = (
        "npm install -g @anthropic-ai/claude-code, then run `claude` once to log in "
        "(or name ANTHROPIC_API_KEY in the agent's env)"
    )

    def __init__(self) -> None:
        self._session_id: str | None = None
        self._schema_requested = False

    def invocation(self, request: AgentRequest) -> Invocation:
        config = request.config
        mode = config.permission_mode or DEFAULT_PERMISSION_MODE
        resumed = resume_session(request, self.name)
        schema = answer_schema(request, strict=False)
        write_schema(request, schema)
        self._schema_requested = True
        argv = [
            *command_prefix(request, self.binary),
            "-p", positional(round_prompt(request, resumed=resumed is not None)),
            "--output-format", "json",
            "--permission-mode", mode,
        ]
        if config.max_turns is not None:
            argv += ["--max-turns", str(config.max_turns)]
        budget = budget_usd(request)
        if budget is not None:
            argv += ["--max-budget-usd", f"{budget:g}"]
        if resumed:
            argv += ["--resume", resumed]
            self._session_id = resumed
        else:
            self._session_id = str(uuid.uuid4())
            argv += ["--session-id", self._session_id]
        instructions = answer_instructions(
            request,
            final=(
                "Return it as your structured output (it is validated against a JSON Schema), and "
                f"also write it to the file named by $LAUNCHER_CONTRACT ({request.contract_path})."
            ),
        )
        # The contract file lives in a private directory of the attempt, a reviewer's packet and
        # the feedback in the run's state: all outside the worktree, so their directories are
        # added (Read is denied elsewhere).
        for folder in outside_dirs(request):
            argv += ["--add-dir", str(folder)]
        argv += [
            "--append-system-prompt", instructions,
            "--json-schema", json.dumps(schema, separators=(",", ":")),
        ]
        if config.model:
            argv += ["--model", config.model]
        argv += config.extra_args
        defaults = {
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_MAX_RETRIES": DEFAULT_MAX_RETRIES,
        }
        # Claude Code refuses bypassPermissions as root unless told it runs in a sandbox. Only
        # when the user's config asked for bypassPermissions: the worktree is then the sandbox.
        if mode == "bypassPermissions" and hasattr(os, "geteuid") and os.geteuid() == 0:
            defaults["IS_SANDBOX"] = "1"
        return Invocation(argv, cli_env(request, passthrough=PASSTHROUGH, defaults=defaults))

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        return finish_session(request, self.name, self._read(request, result), result)

    def _read(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        data = result_message(parse_json_text(result.stdout))
        if data is None:
            outcome = exit_outcome(result)
            if outcome.ok:
                outcome = AgentOutcome(
                    False, "crashed", f"claude printed no JSON result: {tail(result.stdout) or '(no output)'}"
                )
            outcome.session_id = self._session_id
            return outcome

        subtype = str(data.get("subtype"))
        is_error = bool(data.get("is_error"))
        raw_text = data.get("result")
        text = raw_text if isinstance(raw_text, str) else ""
        errors = [str(e) for e in _as_list(data.get("errors")) if str(e).strip()]
        outcome = AgentOutcome(
            ok=False,
            final_text=text,
            tokens=int_fields(data.get("usage")) or None,
            cost_usd=as_float(data.get("total_cost_usd")),
            session_id=clean_session_id(data.get("session_id")) or self._session_id,
            extra={
                "subtype": subtype,
                "num_turns": data.get("num_turns"),
                "model_usage": data.get("modelUsage"),
            },
        )

        if subtype != "success":
            kind = _SUBTYPE_KINDS.get(subtype, "crashed")
            outcome.error_kind = kind
            outcome.message = "; ".join(errors) or text or _subtype_message(subtype, data)
            return outcome
        if is_error:
            outcome.error_kind = "api_error"
            outcome.message = text or "; ".join(errors) or f"claude reported an error (exit {result.returncode})"
            # "Not logged in · Please run /login" (a slash command of its interactive session), an
            # expired OAuth token, a refused key: say how the launcher's agent gets logged in.
            outcome.message = with_login_hint(outcome.message, claude_fix(request.agent_name))
            return outcome
        if result.returncode != 0:
            outcome.error_kind = "crashed"
            outcome.message = f"exit code {result.returncode}: {tail(result.stderr) or text}"
            return outcome
        stopped, reason_note = terminal_reason(data, answered=data.get("structured_output") is not None)
        if reason_note:
            note_on(result, reason_note)
        if stopped is not None:
            outcome.error_kind, outcome.message = stopped
            return outcome
        denials = _as_list(data.get("permission_denials"))
        mode = request.config.permission_mode or DEFAULT_PERMISSION_MODE
        if denials:
            outcome.extra["permission_denials"] = denials
        # Its answer file is denied under a mode that asks before edits (default, plan, dontAsk: a
        # read-only reviewer's): with the answer in structured_output nothing is missing, a note.
        answered = data.get("structured_output") is not None
        answer_writes = [d for d in denials if answered and _writes_answer_file(d, request.contract_path)]
        if answer_writes:
            note_on(result, (
                f"claude was denied writing its answer to $LAUNCHER_CONTRACT by permission mode {mode}; "
                "its structured output was taken"))
            denials = [d for d in denials if d not in answer_writes]
        fatal = [d for d in denials if not _writes_no_file(d)]
        if fatal:
            outcome.error_kind = "permission_denied"
            outcome.message = (
                f"claude was denied {len(fatal)} tool use(s) by permission mode {mode}: "
                + "; ".join(_describe_denial(d) for d in fatal[:DENIALS_SHOWN])
                + " (a denied file write, or a tool that may write: the work it reports may be missing; "
                "allow it in the agent's permission_mode or Claude Code's permission settings)"
            )
            return outcome
        shown = "; ".join(_describe_denial(d, quote=True) for d in denials[:DENIALS_SHOWN])
        if len(denials) > DENIALS_SHOWN:
            shown += f" and {len(denials) - DENIALS_SHOWN} more"
        if denials:
            note_on(result, (
                f"claude was denied {len(denials)} tool use(s) that write no file by permission mode "
                f"{mode}: {shown}; the agent went on without them"
            ))
        structured = data.get("structured_output")
        if structured is None and self._schema_requested and not request.contract_path.is_file():
            outcome.error_kind = "no_structured_output"
            outcome.message = (
                "claude returned no structured_output although --json-schema was given, and wrote no "
                "contract to $LAUNCHER_CONTRACT" + (f"; its final message: {tail(text, 300)}" if text else "")
                + (f" (it was denied: {shown})" if denials else "")
            )
            return outcome
        outcome.ok = True
        outcome.message = text.strip().splitlines()[0][:200] if text.strip() else "claude finished"
        outcome.structured_output = structured
        return outcome


def result_message(printed: object) -> dict[str, Any] | None:
    """The `result` object of what `--output-format json` printed: the object itself, or (verbose
    on) the last `result` message of the array of messages; None if there is none."""
    if isinstance(printed, dict):
        return printed if "subtype" in printed else None
    if isinstance(printed, list):
        for message in reversed(printed):
            if isinstance(message, dict) and message.get("type") == "result" and "subtype" in message:
                return message
    return None


def _as_list(value: object) -> list[Any]:
    """A field the CLI documents as a list, read leniently: a list as is, nothing (null, false,
    0, "", {}) as none, any other value as a list of that one value."""
    if isinstance(value, list):
        return value
    return [value] if value not in (None, False, 0, "", {}) else []


def _subtype_message(subtype: str, data: dict[str, Any]) -> str:
    turns = data.get("num_turns")
    cost = data.get("total_cost_usd")
    if subtype == "error_max_turns":
        return f"reached the maximum number of turns ({turns})"
    if subtype == "error_max_budget_usd":
        return f"reached the maximum budget (spent ${cost})"
    if subtype == "error_max_structured_output_retries":
        return "could not produce output matching the contract schema"
    return f"claude ended with {subtype}"


def _writes_no_file(denial: object) -> bool:
    """Whether a `permission_denials` entry names a built-in tool known to write no file."""
    tool = denial.get("tool_name") if isinstance(denial, dict) else None
    return isinstance(tool, str) and tool in OTHER_TOOLS


def _writes_answer_file(denial: object, answer: Path) -> bool:
    """Whether a `permission_denials` entry is a file write of the round's answer file."""
    if not isinstance(denial, dict) or denial.get("tool_name") not in WRITE_TOOLS:
        return False
    data = denial.get("tool_input")
    path = data.get("file_path") if isinstance(data, dict) else None
    if not isinstance(path, str) or "\0" in path:
        return False
    return os.path.normpath(path) in (os.path.normpath(answer), os.path.realpath(answer))


def _describe_denial(denial: object, *, quote: bool = False) -> str:
    """The denied tool and what it was called with, bounded (and quoted: `quote`)."""
    if not isinstance(denial, dict):
        return _bounded(str(denial), quote)
    tool = str(denial.get("tool_name") or "tool")[:80]
    data = denial.get("tool_input")
    if isinstance(data, dict):
        for key in ("file_path", "notebook_path", "path", "command", "url", "query", "pattern"):
            if isinstance(data.get(key), str):
                return f"{tool} {_bounded(data[key], quote)}"
    return tool


def _bounded(text: str, quote: bool) -> str:
    cut = text if len(text) <= DENIAL_QUOTE else text[:DENIAL_QUOTE] + "…"
    return repr(cut) if quote else cut
