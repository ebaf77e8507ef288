"""Claude Code's `terminal_reason`: why its query loop ended, on the `result` object.

Read from the CLI itself (@anthropic-ai/claude-code 2.1.328; the TerminalReason type of
@anthropic-ai/claude-agent-sdk's sdk.d.ts): the result is `error_max_budget_usd` for
"budget_exhausted", `error_max_turns` for the turn limit, `error_during_execution` for an
exception or an interrupt before a final message, and otherwise subtype "success" with
`is_error` set only for a latched API error, whatever the reason. So a "success" with `is_error:
false` also ends runs the CLI did not finish: a hook that stopped the agent ("hook_stopped", a
hook's `continue: false`), an interrupt ("aborted_streaming", "aborted_tools"), a deferred tool,
a model or context failure. Such a round fails with the reason's kind, unless the agent had given
its structured answer (then it had finished, and the reason is a note). "completed" (or no
reason, an older CLI) is a finished run; "stop_hook_prevented" (a Stop hook, which runs when the
model has finished, ended the session) is one too, with a note. A reason this table does not
know is a note: the CLI's own list grows, and its default is "not an error".
"""

from __future__ import annotations

from typing import Any

FINISHED = frozenset({"completed"})
NOTED = {"stop_hook_prevented": "a Stop hook ended the session after the model's final answer"}
# reason -> (error kind, what happened)
FAILED = {
    "hook_stopped": ("stopped", "a hook stopped the agent (`continue: false`) before it finished"),
    "aborted_streaming": ("crashed", "the turn was interrupted while the model was answering"),
    "aborted_tools": ("crashed", "the turn was interrupted while a tool ran"),
    "tool_deferred": ("crashed", "a hook deferred a tool call, which a headless run cannot resume"),
    "tool_deferred_unavailable": ("crashed", "a deferred tool call found its tool gone"),
    "background_requested": ("crashed", "the turn was sent to the background before it finished"),
    "max_turns": ("max_turns", "the turn limit ended the run"),
    "budget_exhausted": ("budget_exceeded", "the budget ended the run"),
    "api_error": ("api_error", "an API error ended the run"),
    "model_error": ("api_error", "a model error ended the run"),
    "rapid_refill_breaker": ("api_error", "the CLI's rapid-refill breaker ended the run"),
    "blocking_limit": ("crashed", "the conversation reached the context limit"),
    "prompt_too_long": ("crashed", "the prompt grew too long for the model"),
    "image_error": ("crashed", "an image could not be sent to the model"),
    "malformed_tool_use_exhausted": ("crashed", "the model's tool calls could not be parsed, retries included"),
    "structured_output_retry_exhausted": ("no_structured_output", "no answer fit the schema, retries included"),
    "turn_setup_failed": ("crashed", "the turn failed before it started"),
}


def terminal_reason(data: dict[str, Any], *, answered: bool) -> tuple[tuple[str, str] | None, str | None]:
    """(the round's failure (kind, message) or None, a note or None) for a "success" result
    with `is_error: false`; `answered`: the result carries the structured answer."""
    raw = data.get("terminal_reason")
    if raw is None or raw in FINISHED:
        return None, None
    reason = str(raw)[:80]
    if reason in NOTED:
        return None, f"claude's run ended with terminal_reason {reason!r}: {NOTED[reason]}"
    if reason not in FAILED:
        return None, f"claude's run ended with terminal_reason {reason!r}, which the launcher does not know"
    kind, what = FAILED[reason]
    if answered:
        return None, f"claude's run ended with terminal_reason {reason!r} ({what}) after its answer"
    return (kind, f"claude ended with terminal_reason {reason!r}: {what}; it reported success "
                  "(subtype \"success\", is_error false) but the task is not done"), None
