"""`launcher mcp`: the workflow actions as one MCP tool, `orchestrator`, served over stdio with
the official `mcp` SDK. Results are JSON (text and structured content); refusals are the
structured envelope in a result flagged `isError`. `start`,
`next` and `resume` return at once: the phase runs in a detached `launcher workflow next|resume`
process whose progress is in the journal (read it with `status`), so it survives the client's session."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal as os_signal  # `signal` is also one of the tool's arguments
from pathlib import Path
from types import FrameType
from typing import Any

from mcp.types import CallToolResult

from launcher import detached
from launcher.app.workflow import actions, tool_args
from launcher.bounded_write import write_bounded
from launcher.cli import mcp_stdin, out_streams, stop_signals, workdir
from launcher.errors import ExitCode, LauncherError, UsageProblem, environment_problem, launcher_error_in

_log = logging.getLogger("launcher.mcp")
# The folder the server was started in (`serve`): named when it has been removed since.
_started_in: str | None = None


TOOL_DESCRIPTION = (
    "Multi-phase workflows of parallel specialist agents on this git repository. action is one of: "
    + ", ".join(tool_args.ACTIONS)
    + ". context: a task description (analyze, suggest, plan); workflow: a template name "
    "(workflow, plan, start); workflowId: wf_... (status, next, checkpoint, pause, resume, cancel); "
    "signal: the checkpoint's reference; limit: recommend's count (1-50, default 5); "
    "params: the template's parameters, as text (start); "
    f"text arguments and parameter values hold at most {tool_args.TEXT_MAX:,} characters; "
    "options (only those of the action; booleans are JSON true/false): next {skip}, resume {retry_failed}, "
    "list {all}, cancel {force}, plan {write (a new file in the work tree), overwrite}, "
    "start {scripts (for scripted agents)}. "
    "start, next and resume return at once (the phase runs in a background process); poll status "
    "while its result's busy is true (a background runner is at work on it). Once busy is false: "
    "done: true once the workflow ended (completed, failed, cancelled); otherwise it needs you: ready "
    "(next runs the next phase; a workflow runs one phase per next), paused (message and offers say "
    "why: retry, skip, cancel), waiting_checkpoint (checkpoint releases the next phase), interrupted "
    "(interrupted: true; its background runner died mid-phase: resume continues it, cancel ends it). "
    "offers lists the commands that apply now."
)


def _reply(data: dict[str, Any], *, error: bool) -> CallToolResult:
    """The tool's result: the JSON as text (what a model reads) and as structured content (what a
    client branches on), flagged `isError` for a refusal (the MCP spec: errors in tool execution
    are results with isError set), so no client takes a refused action for a done one."""
    text = json.dumps(data, default=str)
    return CallToolResult.model_validate({"content": [{"type": "text", "text": text}],
                                          "structuredContent": json.loads(text), "isError": error})


# Each argument reaches us as sent (typed Any: the SDK would answer a wrong type with its own bare
# text); `actions.dispatch` checks them with the model whose JSON Schema the tool advertises
# (tool_args.ToolArguments, `_closed`), and answers with our envelope.
async def orchestrator(
    action: Any = None, context: Any = None, workflow: Any = None, workflowId: Any = None,
    signal: Any = None, limit: Any = None, params: Any = None, options: Any = None,
) -> CallToolResult:
    args = {"context": context, "workflow": workflow, "workflowId": workflowId, "signal": signal, "limit": limit,
            "params": params, "options": options}
    try:
        if (gone := workdir.removed_problem(server=True, hint=_started_in)) is not None:
            raise gone  # the server's folder was removed (a worktree): every call says so
        result = await actions.dispatch(Path(os.getcwd()), action, args, lambda event: None, detach=True)
    except LauncherError as exc:
        return _reply(exc.envelope(), error=True)
    except Exception as exc:  # a bug: still the envelope, never the SDK's bare error text
        known = launcher_error_in(exc) or environment_problem(exc) \
            or workdir.removed_problem(server=True, hint=_started_in, nothing_done=False)  # removed during the call
        if known is not None:  # ours, a full disk, a ulimit, the folder gone
            return _reply(known.envelope(), error=True)
        _log.exception("orchestrator %r failed", action)
        return _reply({"ok": False, "error_key": "internal", "observations": f"{type(exc).__name__}: {exc}",
                       "usage": "this is a launcher bug; the server log has the traceback"}, error=True)
    return _reply({"ok": True, "action": action, "result": result}, error=False)


def _closed(tool: Any) -> Any:
    """The orchestrator tool's listing with the input schema of the model that checks its
    arguments (tool_args.ToolArguments: `action` required, no other argument, each of its type)."""
    field = "input_schema" if "input_schema" in type(tool).model_fields else "inputSchema"  # mcp 2.x, 1.x
    if getattr(tool, "name", None) != "orchestrator":
        return tool
    return tool.model_copy(update={field: tool_args.input_schema()})


def stdio_closed() -> UsageProblem | None:
    """The refusal when the command was started with stdin or stdout closed (`launcher mcp <&-`):
    the server speaks MCP over both, so it could only end at once, with nothing said."""
    closed = sorted(out_streams.closed_at_start() & {0, 1})
    if not closed:
        return None
    names = " and ".join("stdin" if fd == 0 else "stdout" for fd in closed)
    return UsageProblem(f"`launcher mcp` speaks MCP over stdin and stdout, and its {names} "
                        f"{'is' if len(closed) == 1 else 'are'} closed: there is no client to serve",
                        fix="start it from an MCP client, which connects to its stdin and stdout (the client's "
                            'server entry: "command": "launcher", "args": ["mcp"])',
                        error_key="stdio_closed")  # fmt: skip


def serve() -> None:
    if (closed := stdio_closed()) is not None:
        from launcher.cli.calls import print_error

        print_error(closed.message)
        raise SystemExit(int(closed.exit_code))
    try:
        from mcp.server.mcpserver import MCPServer as Server  # mcp >= 2
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef,attr-defined,unused-ignore]

    class _Server(Server):  # type: ignore[misc,valid-type,unused-ignore]
        async def call_tool(self, name: str, arguments: dict[str, Any], *rest: Any, **kwargs: Any) -> Any:
            """The SDK's argument model drops keys the tool does not declare: refuse them first."""
            if name == "orchestrator" and isinstance(arguments, dict):
                try:
                    tool_args.check_argument_names(arguments)
                except UsageProblem as exc:
                    return _reply(exc.envelope(), error=True)
            return await super().call_tool(name, arguments, *rest, **kwargs)

        async def list_tools(self, *args: Any, **kwargs: Any) -> Any:
            """The orchestrator's input schema says so too: no other argument."""
            return [_closed(tool) for tool in await super().list_tools(*args, **kwargs)]

    global _started_in
    with contextlib.suppress(OSError):
        _started_in = os.getcwd()
    detached.reap_detached_promptly()
    mcp_stdin.install()
    server = _Server("launcher")
    server.tool(name="orchestrator", description=TOOL_DESCRIPTION)(orchestrator)
    _serve_until_stopped(server)


_STOPPED = (b"launcher mcp: stopped by a signal; a workflow phase it started goes on in its own process "
            b"(`launcher workflow status` shows it)\n")


def _serve_until_stopped(server: Any) -> None:
    """`server.run("stdio")`, stopped by Ctrl-C, SIGTERM or SIGHUP (cli/stop_signals.py takes
    the last two as a Ctrl-C) even while the client keeps stdin open: the signal ends the input
    (mcp_stdin.stop: the SDK's reader thread, blocked in a read, returns) and cancels the
    serving, so the process exits (130) at once, as it does when the client closes stdin. Calls
    in flight are cancelled; a shielded one (`cancel`) finishes first. The phases that `start`,
    `next` and `resume` started run in their own processes and go on."""
    async def serving() -> None:
        loop_stop = os_signal.getsignal(os_signal.SIGINT)  # the event loop's: cancels the serving (only once)

        def stop(signum: int, frame: FrameType | None) -> None:
            mcp_stdin.stop()
            if callable(loop_stop):
                loop_stop(signum, frame)

        os_signal.signal(os_signal.SIGINT, stop)
        await server.run_stdio_async()

    try:
        stop_signals.run(serving)
    except KeyboardInterrupt:
        write_bounded(2, _STOPPED)  # a client that does not read its stderr must not keep us alive
        raise SystemExit(int(ExitCode.INTERRUPTED)) from None
