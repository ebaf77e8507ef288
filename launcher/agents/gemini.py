"""The Gemini CLI adapter: `gemini -p PROMPT -o json --approval-mode yolo --skip-trust -m MODEL`.

What the real CLI does (DESIGN 6): on success one JSON object on stdout, `{session_id, response,
stats}` (stats.models.<model>.tokens: prompt, candidates, cached, thoughts, tool, total); on
failure it prints `{"session_id"?, "error": {"type", "message", "code"}}` on stderr and exits
non-zero (the code is the error's: 41 auth, 42 input, 44 sandbox, 52 config, 53 turn limit, 54
tool, 130 cancelled, 1 for an API failure). Log lines may come before the JSON. Gemini reports no
cost. The contract comes from $LAUNCHER_CONTRACT or the last JSON object of the response.
A 429 or 5xx the CLI retries itself is logged on stderr with the failed request's body
(`Attempt N failed with status 503. Retrying with backoff... ApiError: {"error": {...}}`,
packages/core/src/utils/retry.ts), also in runs that then succeed: an error object on stderr is
the CLI's failure only when the process did not end with its result (a non-zero exit, or no
result object on stdout); in a run that recovered it is a note on the task.
When the CLI stops the agent itself it still exits 0 with its result, the reason only in a
`warnings` list (packages/cli/src/nonInteractiveCli.ts, packages/core/src/output/json-formatter.ts):
"Loop detected, stopping execution" (its loop detector), "Maximum session turns exceeded" (its
client's turn limit), "Agent execution stopped: REASON" (a hook stopped it). Such a run is
unfinished work: the round fails (`loop_detected`, `max_turns`, `stopped`). Any other warning
("Agent execution blocked: REASON", a hook that made the agent go on) is a note on the task.
"""

from __future__ import annotations

import re
from typing import Any

from launcher.agents.base import AgentOutcome, AgentRequest, Invocation, clean_session_id, exit_outcome
from launcher.agents.cli_common import (
    answer_instructions,
    cli_env,
    command_prefix,
    finish_session,
    note_on,
    parse_json_text,
    positional,
    round_prompt,
    tail,
)
from launcher.agents.packet_access import packet_for_workspace
from launcher.models.agent_keys import PERMISSION_MODES
from launcher.models.contract import last_json_object
from launcher.process import Supervised

DEFAULT_APPROVAL_MODE = "yolo"
# Bytes of a reviewer's packet quoted in the `-p` prompt; Linux caps one argv element at 128 KiB.
INLINE_LIMIT = 96_000
APPROVAL_MODES = PERMISSION_MODES["gemini"] or ()  # another value is refused when the plan is read
# (passed verbatim: `--approval-mode plan` is Gemini CLI's read-only Plan Mode)

# Parent variables Gemini CLI reads for authentication and configuration.
PASSTHROUGH = (
    "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_GCA", "GOOGLE_APPLICATION_CREDENTIALS",
    "GEMINI_MODEL", "GEMINI_CLI_HOME",
)

# Fatal errors that are not the API's: the launcher's call or the machine is at fault.
_LOCAL_ERRORS = {
    "FatalInputError": 42, "FatalSandboxError": 44, "FatalConfigError": 52,
    "FatalToolExecutionError": 54, "FatalCancellationError": 130,
}
_TURN_LIMIT = ("FatalTurnLimitedError", 53)
NOTE_QUOTE = 240  # characters of the CLI's own line quoted in a note

_TOKEN_KEYS = {
    "prompt": "input_tokens", "candidates": "output_tokens", "cached": "cached_input_tokens",
    "thoughts": "thoughts_tokens", "tool": "tool_tokens", "total": "total_tokens",
}


class GeminiAdapter:
    name = "gemini"
    binary = "gemini"
    install_hint = (
        "npm install -g @google/gemini-cli, then run `gemini` once to log in "
        "(or name GEMINI_API_KEY in the agent's env)"
    )
    # With `-o json` stdout stays silent until the result; stderr carries only its log (the retry
    # warnings of a 429/5xx it may retry for ever, notices): not progress, so only file changes
    # reset the inactivity clock (base.stderr_is_activity), as for opencode.
    stderr_is_activity = False

    def invocation(self, request: AgentRequest) -> Invocation:
        # Its tools refuse paths outside the workspace: the packet is quoted in the prompt, or
        # copied inside when the prompt (one argv element) would grow too large for it.
        request = packet_for_workspace(request, INLINE_LIMIT)
        config = request.config
        mode = config.permission_mode if config.permission_mode in APPROVAL_MODES else DEFAULT_APPROVAL_MODE
        instructions = answer_instructions(
            request,
            final=(
                "End your final response with exactly that JSON object, in a ```json block "
                "(the launcher reads the last JSON object of your response)."
            ),
        )
        # Gemini's sessions are not resumed by id here: each round is a fresh session that gets
        # the task and, on a corrective or revision round, the fixes.
        prompt = round_prompt(request, resumed=False) + "\n\n" + instructions
        argv = [
            *command_prefix(request, self.binary),
            "-p", positional(prompt),
            "-o", "json",
            "--approval-mode", mode,
            "--skip-trust",
        ]
        if config.model:
            argv += ["-m", config.model]
        argv += config.extra_args
        # NO_BROWSER: without cached credentials, fail instead of waiting on a browser login.
        env = cli_env(request, passthrough=PASSTHROUGH, defaults={"NO_BROWSER": "true"})
        return Invocation(argv, env)

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        return finish_session(request, self.name, self._read(result), result)

    def _read(self, result: Supervised) -> AgentOutcome:
        data = parse_json_text(result.stdout)
        data = data if isinstance(data, dict) else {}
        finished = result.returncode == 0 and _is_result(data)
        # What the CLI printed on stderr is its failure only when it did not finish with its
        # result: a run that retried an API error and recovered logged that error there too.
        logged = _error_object(result.stderr)
        problem = (data if isinstance(data.get("error"), dict) else None) or (None if finished else logged)
        stop = _warnings(result, data, failing=problem is not None or result.returncode != 0)
        session = clean_session_id((problem or {}).get("session_id")) or clean_session_id(data.get("session_id"))
        raw_response = data.get("response")
        response = raw_response if isinstance(raw_response, str) else ""
        outcome = AgentOutcome(
            ok=False,
            final_text=response,
            tokens=_tokens(data.get("stats")),
            cost_usd=None,  # Gemini CLI reports tokens, not money
            session_id=session,
            extra={"stats": data.get("stats")} if data.get("stats") else {},
        )
        if problem is not None:
            error: dict[str, Any] = problem["error"]
            outcome.error_kind = _error_kind(error, result.returncode)
            outcome.message = str(error.get("message") or error.get("type") or "gemini failed")
            outcome.extra["error"] = error
            return outcome
        if result.returncode != 0:
            base = exit_outcome(result)
            outcome.error_kind = base.error_kind or "crashed"
            outcome.message = base.message
            return outcome
        if not data:
            outcome.error_kind = "crashed"
            outcome.message = f"gemini printed no JSON result: {tail(result.stdout) or '(no output)'}"
            return outcome
        if stop is not None:
            outcome.error_kind, outcome.message = stop
            return outcome
        outcome.ok = True
        outcome.message = "gemini finished"
        recovered = _recovered_note(result.stderr, logged)
        if recovered:
            note_on(result, recovered)
        return outcome


# The warnings of a run the CLI stopped itself (their stable beginnings), with the round's failure.
_STOPS = (
    ("Maximum session turns exceeded", "max_turns",
     "the session-turn limit (maxSessionTurns in its settings.json) ended the run unfinished"),
    ("Loop detected", "loop_detected",
     "its loop detection saw the model repeat itself and ended the run unfinished"),
    ("Agent execution stopped", "stopped", "a hook or a tool ended the run unfinished"),
)


def _warnings(result: Supervised, data: dict[str, Any], *, failing: bool) -> tuple[str, str] | None:
    """The failure (kind, message) of a run the CLI stopped itself, from its `warnings`; every
    other warning (and a stop, when the round already fails for another reason) is a note."""
    raw = data.get("warnings")
    warnings = [w.strip() for w in raw if isinstance(w, str) and w.strip()] if isinstance(raw, list) else []
    stop: tuple[str, str] | None = None
    for warning in warnings:
        quoted = warning if len(warning) <= NOTE_QUOTE else warning[:NOTE_QUOTE] + "…"
        found = next((s for s in _STOPS if warning.casefold().startswith(s[0].casefold())), None)
        if found is not None and stop is None and not failing:
            stop = (found[1], f"gemini stopped the agent ({quoted!r}): {found[2]}; "
                              "it exited 0 but the task is not done")
        else:
            note_on(result, f"gemini warned: {quoted!r}")
    return stop


def _is_result(data: dict[str, Any]) -> bool:
    """Whether stdout held the CLI's final result object `{session_id, response, stats}`."""
    if isinstance(data.get("error"), dict):
        return False
    return isinstance(data.get("response"), str) or isinstance(data.get("stats"), dict)


_RETRY_LINE = re.compile(r"^Attempt \d+ failed\b.*$", re.MULTILINE)


def _recovered_note(stderr: str, logged: dict[str, Any] | None) -> str | None:
    """The note of a run that finished with its result after API errors it retried itself."""
    retries = _RETRY_LINE.findall(stderr)
    if retries:
        first = retries[0].strip()
        quoted = first if len(first) <= NOTE_QUOTE else first[:NOTE_QUOTE] + "…"
        return (f"gemini retried {len(retries)} failed API request(s) and recovered "
                f"(it exited 0 with its result); first: {quoted!r}")
    if logged is not None:
        error = logged["error"]
        message = str(error.get("message") or error.get("type") or error)[:NOTE_QUOTE]
        return f"gemini printed an API error on stderr but exited 0 with its result: {message!r}"
    return None


def _error_object(stderr: str) -> dict[str, Any] | None:
    """The `{"error": {...}}` document Gemini prints on stderr, after any log lines."""
    found = parse_json_text(stderr)
    if not (isinstance(found, dict) and isinstance(found.get("error"), dict)):
        found = last_json_object(stderr)
    if isinstance(found, dict) and isinstance(found.get("error"), dict):
        return found
    return None


def _error_kind(error: dict[str, Any], returncode: int | None) -> str:
    kind = str(error.get("type") or "")
    code = error.get("code")
    if kind == _TURN_LIMIT[0] or code == _TURN_LIMIT[1] or returncode == _TURN_LIMIT[1]:
        return "max_turns"
    if kind in _LOCAL_ERRORS or (isinstance(code, int) and code in _LOCAL_ERRORS.values()):
        return "crashed"
    return "api_error"  # authentication, quota, an API failure


def _tokens(stats: object) -> dict[str, int] | None:
    if not isinstance(stats, dict) or not isinstance(stats.get("models"), dict):
        return None
    totals: dict[str, int] = {}
    for model in stats["models"].values():
        tokens = model.get("tokens") if isinstance(model, dict) else None
        if not isinstance(tokens, dict):
            continue
        for key, name in _TOKEN_KEYS.items():
            value = tokens.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                totals[name] = totals.get(name, 0) + value
    return totals or None
