"""The MCP tool's advertised input schema is the contract: every call it allows is taken, every
call it forbids is refused with the envelope (isError), never converted. `action` is required;
`limit: 3.0` is a JSON Schema integer and is taken as 3; a parameter's value is text, so a JSON
`true` is refused rather than becoming the Python text "True" in an agent's prompt; an empty
`workflowId` is refused rather than answered with the latest workflow's status. Real
repositories, the real `launcher mcp` server over stdio, the official SDK, a JSON Schema
validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest

from launcher.app.workflow import engine
from launcher.app.workflow.tool_args import TEXT_MAX
from tests.test_workflow_review import _server
from tests.test_workflows import wf_repo  # noqa: F401  (the fixture)

pytest.importorskip("mcp")

CALLS: list[dict[str, Any]] = [
    {},
    {"action": None},
    {"action": 5},
    {"action": "recommend"},
    {"action": "recommend", "limit": 3},
    {"action": "recommend", "limit": 3.0},
    {"action": "recommend", "limit": 3.5},
    {"action": "recommend", "limit": "3"},
    {"action": "recommend", "limit": True},
    {"action": "recommend", "limit": 51},
    {"action": "list", "params": {"what": "x"}},
    {"action": "list", "params": {"what": True}},
    {"action": "list", "params": {"what": 1e20}},
    {"action": "list", "params": {"what": None}},
    {"action": "list", "params": ["x"]},
    {"action": "list", "options": {"all": True}},
    {"action": "list", "options": {"all": "true"}},
    {"action": "list", "options": {"everything": True}},
    {"action": "list", "context": 7},
    {"action": "status", "workflowId": ""},
    {"action": "analyze", "context": "add an api endpoint"},
    {"action": "analyze", "context": "x" * (TEXT_MAX + 1)},
    {"action": "start", "workflow": "mini", "params": {"what": True}},
    {"action": "start", "workflow": "mini", "params": {"what": 1e20}},
]


def test_the_input_schema_allows_exactly_the_calls_the_tool_takes(wf_repo: Path) -> None:  # noqa: F811
    latest = anyio.run(engine.create, wf_repo, "mini", {"what": "latest"}, {}).id
    schema: dict[str, Any] = {}
    results: list[Any] = []

    async def scenario() -> None:
        async with _server(wf_repo) as session:
            (tool,) = (await session.list_tools()).tools
            schema.update(getattr(tool, "input_schema", None) or getattr(tool, "inputSchema", {}))  # mcp 2.x, 1.x
            for arguments in CALLS:
                results.append(await session.call_tool("orchestrator", arguments))

    anyio.run(scenario)
    assert schema["required"] == ["action"] and "default" not in schema["properties"]["action"]
    validator = jsonschema.Draft202012Validator(schema)
    for arguments, result in zip(CALLS, results, strict=True):
        envelope = json.loads(result.content[0].text)
        refused = getattr(result, "is_error", getattr(result, "isError", None))
        shown = json.dumps(arguments)[:80]
        assert refused is (not validator.is_valid(arguments)), (shown, envelope)
        if refused:
            assert envelope["ok"] is False and envelope["error_key"] != "internal", (shown, envelope)
            assert latest not in json.dumps(envelope), (shown, envelope)  # never another workflow's answer
    by_call = {json.dumps(a)[:80]: json.loads(r.content[0].text) for a, r in zip(CALLS, results, strict=True)}
    assert len(by_call['{"action": "recommend", "limit": 3.0}']["result"]) <= 3
    assert by_call["{}"]["error_key"] == "missing:action"
    assert by_call['{"action": "status", "workflowId": ""}']["error_key"] == "usage:workflowId"
    true_param = by_call['{"action": "start", "workflow": "mini", "params": {"what": true}}']
    assert true_param["error_key"] == "usage:params" and "params.what must be text" in true_param["observations"]
    too_long = by_call[json.dumps(CALLS[-3])[:80]]
    assert too_long["error_key"] == "usage:context" and f"at most {TEXT_MAX:,}" in too_long["observations"]
    workflows = [s.id for s in anyio.run(lambda: engine.listing(wf_repo, everything=True))]
    assert workflows == [latest]  # no refused start created one
