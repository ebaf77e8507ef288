"""`launcher mcp`: the workflow actions as one MCP tool, `orchestrator`, served over stdio with
the official `mcp` SDK. Results are JSON (text and structured content); refusals are the
structured envelope in a result flagged `isError`. `start`,
`next` and `resume` return at once: the phase runs in a detached `launcher workflow next|resume`
process whose progress is in the journal (read it with `status`), so it survives the client's session."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

from mcp.types import CallToolResult
from pydantic import WithJsonSchema

from launcher import detached
from launcher.app.workflow import actions
from launcher.cli import mcp_stdin
from launcher.errors import LauncherError, UsageProblem, environment_problem, launcher_error_in

_log = logging.getLogger("launcher.mcp")


# Each argument reaches us as sent (the SDK would answer a wrong type with its own bare text); we
# check it and answer with our envelope. The schema still shows clients the real JSON types.
_OR_NULL = {"type": "null"}
_Action = Annotated[Any, WithJsonSchema({"type": "string", "enum": list(actions.ACTIONS),
                                          "description": "required"})]
_Text = Annotated[Any, WithJsonSchema({"anyOf": [{"type": "string"}, _OR_NULL], "default": None})]
_Limit = Annotated[Any, WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1, "maximum": actions.RECOMMEND_MAX},
                                                  _OR_NULL], "default": None})]
_Params = Annotated[Any, WithJsonSchema({"anyOf": [{"type": "object", "additionalProperties": {"type": "string"}},
                                                   _OR_NULL], "default": None})]
_Options = Annotated[Any, WithJsonSchema({"anyOf": [{"type": "object"}, _OR_NULL], "default": None})]

TOOL_DESCRIPTION = (
    "Multi-phase workflows of parallel specialist agents on this git repository. action is one of: "
    + ", ".join(actions.ACTIONS)
    + ". context: a task description (analyze, suggest, plan); workflow: a template name "
    "(workflow, plan, start); workflowId: wf_... (status, next, checkpoint, pause, resume, cancel); "
    "signal: the checkpoint's reference; limit: recommend's count (1-50, default 5); "
    "params: the template's parameters (start); "
    "options (only those of the action; booleans are JSON true/false): next {skip}, resume {retry_failed}, "
    "list {all}, cancel {force}, plan {write (a new file in the work tree), overwrite}, "
    "start {scripts (for scripted agents)}. "
    "start, next and resume return at once (the phase runs in a background process); poll status."
)


def _reply(data: dict[str, Any], *, error: bool) -> CallToolResult:
    """The tool's result: the JSON as text (what a model reads) and as structured content (what a
    client branches on), flagged `isError` for a refusal (the MCP spec: errors in tool execution
    are results with isError set), so no client takes a refused action for a done one."""
    text = json.dumps(data, default=str)
    return CallToolResult.model_validate({"content": [{"type": "text", "text": text}],
                                          "structuredContent": json.loads(text), "isError": error})


async def orchestrator(
    action: _Action = None, context: _Text = None, workflow: _Text = None, workflowId: _Text = None,
    signal: _Text = None, limit: _Limit = None, params: _Params = None, options: _Options = None,
) -> CallToolResult:
    args = {"context": context, "workflow": workflow, "workflowId": workflowId, "signal": signal, "limit": limit,
            "params": params, "options": options}
    try:
        if action is None:
            raise UsageProblem("the argument action is missing",
                                       fix=f"pass action, one of: {', '.join(actions.ACTIONS)}",
                                       error_key="missing:action")
        result = await actions.dispatch(Path.cwd(), action, args, lambda event: None, detach=True)
    except LauncherError as exc:
        return _reply(exc.envelope(), error=True)
    except Exception as exc:  # a bug: still the envelope, never the SDK's bare error text
        if (known := launcher_error_in(exc) or environment_problem(exc)) is not None:  # ours, a full disk, a ulimit
            return _reply(known.envelope(), error=True)
        _log.exception("orchestrator %r failed", action)
        return _reply({"ok": False, "error_key": "internal", "observations": f"{type(exc).__name__}: {exc}",
                       "usage": "this is a launcher bug; the server log has the traceback"}, error=True)
    return _reply({"ok": True, "action": action, "result": result}, error=False)


def _closed(tool: Any) -> Any:
    """The orchestrator tool's listing with `additionalProperties: false` in its input schema."""
    field = "input_schema" if "input_schema" in type(tool).model_fields else "inputSchema"  # mcp 2.x, 1.x
    schema = getattr(tool, field, None)
    if getattr(tool, "name", None) != "orchestrator" or not isinstance(schema, dict):
        return tool
    return tool.model_copy(update={field: {**schema, "additionalProperties": False}})


def serve() -> None:
    try:
        from mcp.server.mcpserver import MCPServer as Server  # mcp >= 2
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef,attr-defined,unused-ignore]

    class _Server(Server):  # type: ignore[misc,valid-type,unused-ignore]
        async def call_tool(self, name: str, arguments: dict[str, Any], *rest: Any, **kwargs: Any) -> Any:
            """The SDK's argument model drops keys the tool does not declare: refuse them first."""
            if name == "orchestrator" and isinstance(arguments, dict):
                try:
                    actions.check_argument_names(arguments)
                except UsageProblem as exc:
                    return _reply(exc.envelope(), error=True)
            return await super().call_tool(name, arguments, *rest, **kwargs)

        async def list_tools(self, *args: Any, **kwargs: Any) -> Any:
            """The orchestrator's input schema says so too: no other argument."""
            return [_closed(tool) for tool in await super().list_tools(*args, **kwargs)]

    detached.reap_detached_promptly()
    mcp_stdin.install()
    server = _Server("launcher")
    server.tool(name="orchestrator", description=TOOL_DESCRIPTION)(orchestrator)
    server.run("stdio")
