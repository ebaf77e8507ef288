"""The MCP tool `orchestrator` takes only the arguments it declares: one it does not know (a
misspelt `workflow_id`, `workflowID`, `id`; a `template` for `workflow`) is refused with the
envelope (usage:arguments) naming the right one, and nothing is answered for another workflow:
the SDK would otherwise drop it, and `status` without an id reports the latest workflow. The
advertised input schema says so (`additionalProperties: false`). Real repositories, the real
`launcher mcp` server over stdio, the official SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.app.workflow import engine
from tests.test_workflow_review import _call, _server
from tests.test_workflows import wf_repo  # noqa: F401  (the fixture)

pytest.importorskip("mcp")


def test_a_misspelt_workflow_id_is_refused_not_answered_with_the_latest_workflow(wf_repo: Path) -> None:  # noqa: F811
    first = anyio.run(engine.create, wf_repo, "mini", {"what": "first"}, {}).id
    latest = anyio.run(engine.create, wf_repo, "mini", {"what": "latest"}, {}).id
    got: dict[str, Any] = {}
    schema: dict[str, Any] = {}

    async def scenario() -> None:
        async with _server(wf_repo) as session:
            for key in ("workflow_id", "workflowID", "id"):
                got[key] = await _call(session, {"action": "status", key: first})
            got["template"] = await _call(session, {"action": "plan", "context": "x", "template": "mini"})
            got["right"] = await _call(session, {"action": "status", "workflowId": first})
            (tool,) = (await session.list_tools()).tools
            schema.update(getattr(tool, "input_schema", None) or getattr(tool, "inputSchema", {}))  # mcp 2.x, 1.x

    anyio.run(scenario)
    for key in ("workflow_id", "workflowID", "id", "template"):
        refused = got[key]
        assert refused["ok"] is False and refused["error_key"] == "usage:arguments", (key, refused)
        assert repr(key) in refused["observations"] and latest not in str(refused)
    for key in ("workflow_id", "workflowID", "id"):
        assert f"{key} -> workflowId" in got[key]["usage"]
    assert got["right"]["ok"] is True and got["right"]["result"]["id"] == first
    assert schema["additionalProperties"] is False and "workflowId" in schema["properties"]
