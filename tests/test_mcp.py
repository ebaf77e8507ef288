"""`launcher mcp` through the official SDK's own stdio client: the one `orchestrator` tool,
plan, start (returns at once, the phase runs detached), status, checkpoint, errors as envelopes."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.test_workflows import _scripts, wf_repo  # noqa: F401  (the fixture)

mcp = pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402


async def _call(session: ClientSession, **arguments: Any) -> Any:
    result = await session.call_tool("orchestrator", arguments)
    return json.loads(result.content[0].text)  # type: ignore[union-attr]


def test_the_orchestrator_tool_plans_starts_reports_status_and_takes_a_checkpoint(wf_repo: Path) -> None:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    server = StdioServerParameters(command=sys.executable, args=["-m", "launcher", "mcp"], cwd=str(wf_repo), env=env)

    async def scenario() -> None:
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            assert [t.name for t in tools] == ["orchestrator"]
            tool = tools[0]
            schema = (getattr(tool, "input_schema", None) or tool.inputSchema)["properties"]  # mcp 2.x, 1.x
            wanted = {"action", "context", "workflow", "workflowId", "signal", "limit", "params", "options"}
            assert wanted <= set(schema)

            plan = await _call(session, action="plan", context="audit the auth code for XSS vulnerabilities")
            assert plan["ok"] and plan["result"]["workflow"] == "security-audit"

            began = time.monotonic()
            started = await _call(session, action="start", workflow="mini", params={"what": "mul"},
                                  options={"scripts": _scripts(wf_repo)})
            assert started["ok"] and started["result"]["workflowId"].startswith("wf_")
            assert time.monotonic() - began < 5  # returned at once; the phase runs detached
            wid = started["result"]["workflowId"]

            status: dict[str, Any] = {}
            for _ in range(300):
                status = (await _call(session, action="status", workflowId=wid))["result"]
                if status["status"] == "waiting_checkpoint":
                    break
                await anyio.sleep(0.1)
            assert status["status"] == "waiting_checkpoint", status
            assert status["phases"][0]["tasks"][0]["id"] == "plan-architect"

            released = await _call(session, action="checkpoint", workflowId=wid, signal="looks good")
            assert released["result"]["status"] == "ready"
            assert released["result"]["checkpoints"][0]["signal"] == "looks good"

            bad = await _call(session, action="checkpoint", workflowId="wf_nope", signal="x")
            assert bad["ok"] is False and bad["error_key"] == "workflow_not_found"
            unknown = await _call(session, action="dance")
            assert unknown["ok"] is False and "one of:" in unknown["usage"]

    anyio.run(scenario)
