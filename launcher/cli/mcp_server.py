"""`launcher mcp`: the workflow actions as one MCP tool, `orchestrator`, served over stdio with
the official `mcp` SDK. Results are JSON text; errors are the structured envelope. `start` and
`next` return at once: the phase runs in a detached `launcher workflow next` process whose
progress is in the journal (read it with `status`), so it survives the client's session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from launcher.app.workflow import actions
from launcher.errors import LauncherError

TOOL_DESCRIPTION = (
    "Multi-phase workflows of parallel specialist agents on this git repository. action is one of: "
    + ", ".join(actions.ACTIONS)
    + ". context: a task description (analyze, suggest, plan); workflow: a template name "
    "(workflow, plan, start); workflowId: wf_... (status, next, checkpoint, pause, resume, cancel); "
    "signal: the checkpoint's reference; limit: recommend's count (1-50, default 5); "
    "params: the template's parameters (start); "
    "options: {skip, retry_failed, all, write, scripts (for scripted agents)}. "
    "start and next return at once; poll status."
)


async def orchestrator(
    action: str, context: str | None = None, workflow: str | None = None, workflowId: str | None = None,
    signal: str | None = None, limit: int | None = None, params: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> str:
    args = {"context": context, "workflow": workflow, "workflowId": workflowId, "signal": signal, "limit": limit,
            "params": params or {}, "options": options or {}}
    try:
        result = await actions.dispatch(Path.cwd(), action, args, lambda event: None, detach=True)
    except LauncherError as exc:
        return json.dumps(exc.envelope())
    return json.dumps({"ok": True, "action": action, "result": result}, default=str)


def serve() -> None:
    try:
        from mcp.server.mcpserver import MCPServer as Server  # mcp >= 2
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef,attr-defined,unused-ignore]
    server = Server("launcher")
    server.tool(name="orchestrator", description=TOOL_DESCRIPTION)(orchestrator)
    server.run("stdio")
