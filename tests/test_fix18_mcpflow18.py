"""Workflows through `launcher mcp`, as an MCP client (Claude Code) drives them: the official SDK's
stdio client against the real server, scripted agents on a real repository.

- A client can tell from the result alone when to stop polling: `busy` is true while a background
  runner is at work on the workflow and false once nothing changes without the client; `ready`
  after a phase (or a checkpoint) with `busy: false` waits for `next`, it is not a phase about to run.
- Refusals say what is wrong in words that add to the status: `next` on a workflow the operator
  paused says so and names `resume` (not "is paused: it is paused"); a missing parameter without
  a description is named without an empty "()"; a template role or phase id that breaks the naming
  rule is told the whole rule (a leading "-" is refused: it is not "letters, digits and -" alone).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.cli.mcp_server import TOOL_DESCRIPTION
from tests.helpers import launcher_cli
from tests.test_workflows import _scripts, wf_repo  # noqa: F401  (the fixture)

pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def _server(repo: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return StdioServerParameters(command=sys.executable, args=["-m", "launcher", "mcp"], cwd=str(repo), env=env)


async def _call(session: ClientSession, **arguments: Any) -> tuple[bool, dict[str, Any]]:
    """(isError, structuredContent) of one orchestrator call; the text says the same."""
    result = await session.call_tool("orchestrator", arguments)
    structured = getattr(result, "structured_content", None) or result.structuredContent  # mcp 2.x, 1.x
    error = getattr(result, "is_error", None)
    error = result.isError if error is None else error
    assert json.loads(result.content[0].text) == structured  # type: ignore[union-attr]
    return bool(error), structured


async def _poll(session: ClientSession, wid: str) -> dict[str, Any]:
    """The client loop the tool description prescribes: status while busy."""
    for _ in range(900):
        error, reply = await _call(session, action="status", workflowId=wid)
        assert not error, reply
        if not reply["result"]["busy"]:
            return reply["result"]  # type: ignore[no-any-return]
        await anyio.sleep(0.1)
    raise AssertionError(f"still busy: {reply}")


def test_a_client_stops_polling_when_nothing_runs_and_ready_then_waits_for_next(wf_repo: Path) -> None:  # noqa: F811
    assert "busy" in TOOL_DESCRIPTION
    scripts = _scripts(wf_repo, **{"build-backend": [{"sleep": 2}, *_scripts(wf_repo)["build-backend"]]})

    async def scenario() -> None:
        async with stdio_client(_server(wf_repo)) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            error, started = await _call(session, action="start", workflow="mini", params={"what": "mul"},
                                         options={"scripts": scripts})
            assert not error and started["result"]["busy"] is True, started  # its runner was just started
            wid = started["result"]["workflowId"]
            planned = await _poll(session, wid)
            assert planned["status"] == "waiting_checkpoint" and planned["done"] is False, planned

            error, released = await _call(session, action="checkpoint", workflowId=wid, signal="ok")
            # ready, and nothing runs: polling it would never end; `next` is what the client does
            assert released["result"]["status"] == "ready" and released["result"]["busy"] is False, released
            assert released["result"]["offers"][0] == f"launcher workflow next {wid}"

            error, building = await _call(session, action="next", workflowId=wid)
            assert not error and building["result"]["busy"] is True, building
            built = await _poll(session, wid)
            assert [p["status"] for p in built["phases"]] == ["succeeded", "succeeded", "pending"], built
            assert built["status"] == "ready" and built["done"] is False and built["runner_pid"] is None, built
            assert built["offers"][0] == f"launcher workflow next {wid}"

    anyio.run(scenario)


def test_next_on_a_workflow_the_operator_paused_says_so_and_names_resume(wf_repo: Path) -> None:  # noqa: F811
    started = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", "what=mul", "--no-run", "--json")
    wid = json.loads(started.stdout)["id"]
    assert launcher_cli(wf_repo, "workflow", "pause", wid).returncode == 0
    refused = launcher_cli(wf_repo, "workflow", "next", wid, "--json")
    envelope = json.loads(refused.stdout)
    assert refused.returncode == 2 and envelope["error_key"] == "workflow_paused", refused
    assert envelope["observations"] == f"workflow {wid} is paused: the operator paused it"
    assert envelope["usage"] == f"`launcher workflow resume {wid}` continues it"


def test_a_missing_parameter_without_a_description_is_named_without_empty_brackets(wf_repo: Path) -> None:  # noqa: F811
    refused = launcher_cli(wf_repo, "workflow", "start", "mini", "--no-run", "--json")
    envelope = json.loads(refused.stdout)
    assert envelope["error_key"] == "workflow_param_missing", refused
    assert envelope["observations"] == "workflow 'mini' needs the parameter 'what'"


def test_a_template_role_starting_with_a_dash_is_refused_with_the_rule_it_breaks(wf_repo: Path) -> None:  # noqa: F811
    (wf_repo / "workflows" / "odd.toml").write_text(
        'name = "odd"\ndescription = "d"\n[[phase]]\nid = "plan"\n[[phase.primary]]\nrole = "-rf"\nprompt = "p"\n')
    refused = launcher_cli(wf_repo, "workflow", "workflows", "--json")
    envelope = json.loads(refused.stdout)
    assert refused.returncode == 2 and envelope["error_key"] == "config_invalid", refused
    # "-rf" is made of lowercase letters and '-': the message must name what it lacks
    assert "role '-rf' must be 1 to 30 lowercase letters, digits and '-', starting with a letter or digit" \
        in envelope["observations"], envelope
    assert "workflows/odd.toml" in envelope["observations"]
