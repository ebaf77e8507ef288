"""A long task description no longer holds up the whole MCP session: `context` (like every text
argument and parameter value) is bounded, a longer one refused at once with the limit named
(usage:context), and the routing analysis of `analyze`, `suggest` and `plan` runs off the event
loop, so a `status` poll or a `cancel` sent meanwhile in the same session is answered."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import launcher_cli

from launcher.app.workflow import planner, routing
from launcher.app.workflow.tool_args import TEXT_MAX
from launcher.cli.mcp_server import orchestrator
from tests.test_workflows import wf_repo  # noqa: F401  (the fixture)

pytest.importorskip("mcp")


@pytest.mark.parametrize(("action", "owner", "name"), [
    ("analyze", routing, "analyze"),
    ("suggest", routing, "suggest"),
    ("plan", planner, "choose_template"),
])
def test_a_call_is_answered_while_another_analyses_a_task_description(
        action: str, owner: Any, name: str, wf_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.chdir(wf_repo)
    listed = threading.Event()
    seen: dict[str, bool] = {}
    real: Callable[..., Any] = getattr(owner, name)

    def slow(*args: Any) -> Any:  # the analysis of a long text: CPU work that takes a while
        seen["in the event loop's thread"] = threading.current_thread() is threading.main_thread()
        seen["list answered meanwhile"] = listed.wait(15)
        return real(*args)

    monkeypatch.setattr(owner, name, slow)
    order: list[str] = []

    async def scenario() -> None:
        async def analysing() -> None:
            result = await orchestrator(action, context="add an api endpoint with a database table")
            assert json.loads(result.content[0].text)["ok"] is True  # type: ignore[union-attr]
            order.append(action)

        async def listing() -> None:
            result = await orchestrator("list")
            assert json.loads(result.content[0].text)["ok"] is True  # type: ignore[union-attr]
            order.append("list")
            listed.set()

        async with anyio.create_task_group() as group:
            group.start_soon(analysing)
            group.start_soon(listing)

    anyio.run(scenario)
    assert seen == {"in the event loop's thread": False, "list answered meanwhile": True}
    assert order == ["list", action]


def test_a_context_over_the_limit_is_refused_at_once_naming_the_limit(wf_repo: Path,  # noqa: F811
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(wf_repo)
    long = "word " * (TEXT_MAX // 5) + "x"
    for action in ("analyze", "suggest", "plan"):
        result = anyio.run(lambda action=action: orchestrator(action, context=long))
        envelope = json.loads(result.content[0].text)  # type: ignore[union-attr]
        assert envelope["error_key"] == "usage:context", (action, envelope)
        assert f"{len(long):,} characters" in envelope["observations"]
        assert f"at most {TEXT_MAX:,}" in envelope["observations"]
    done = launcher_cli(wf_repo, "workflow", "plan", long)  # the CLI's plan has the same bound
    assert done.returncode == 2 and f"at most {TEXT_MAX:,}" in done.stderr, done.stderr
    exactly = anyio.run(lambda: orchestrator("analyze", context="a" * TEXT_MAX))
    assert json.loads(exactly.content[0].text)["ok"] is True  # type: ignore[union-attr]
