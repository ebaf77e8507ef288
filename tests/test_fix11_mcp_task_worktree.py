"""A workflow action run inside one of the launcher's own task worktrees (an agent calling the MCP
tool `orchestrator`, or `launcher workflow ...`, from its worktree) is refused, naming the main
checkout, as every command that keeps state is there: `start` does not answer ok for a workflow
whose target would be the task's branch, and no second `.launcher/` state is created in the
worktree. Real runs, the real `launcher mcp` server over stdio, the official SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import failed_task_worktree, git, launcher_cli

from tests.test_workflow_review import _server
from tests.test_workflows import wf_repo  # noqa: F401  (the fixture)

pytest.importorskip("mcp")


def test_mcp_start_in_a_task_worktree_is_refused_naming_the_main_checkout(wf_repo: Path) -> None:  # noqa: F811
    _run_id, worktree = failed_task_worktree(wf_repo)
    got: dict[str, Any] = {}

    async def scenario() -> None:
        async with _server(worktree) as session:
            for action, arguments in {
                "start": {"action": "start", "workflow": "mini", "params": {"what": "inner"}},
                "list": {"action": "list"},
                "recommend": {"action": "recommend"},
            }.items():
                got[action] = await session.call_tool("orchestrator", arguments)

    anyio.run(scenario)
    for action, result in got.items():
        envelope = json.loads(result.content[0].text)
        assert getattr(result, "is_error", getattr(result, "isError", None)) is True, (action, envelope)
        assert envelope["error_key"] == "usage:in_launcher_worktree", (action, envelope)
        assert f"the runs and their journal are in the main checkout {wf_repo}" in envelope["observations"]
        assert f"cd {wf_repo}" in envelope["usage"]
    assert not (worktree / ".launcher").exists()
    assert git(worktree, "status", "--porcelain") == ""
    assert json.loads(launcher_cli(wf_repo, "workflow", "list", "--all", "--json").stdout) == []


def test_cli_workflow_start_in_a_task_worktree_is_refused_and_creates_nothing_there(wf_repo: Path) -> None:  # noqa: F811
    _run_id, worktree = failed_task_worktree(wf_repo)

    started = launcher_cli(worktree, "workflow", "start", "mini", "--param", "what=inner", "--no-run", "--json")
    listed = launcher_cli(worktree, "workflow", "list")

    assert started.returncode == 2, started.stdout + started.stderr
    assert json.loads(started.stdout)["error_key"] == "usage:in_launcher_worktree"
    assert listed.returncode == 2 and f"are in the main checkout {wf_repo}" in listed.stderr
    assert "no active workflow" not in listed.stdout  # not an empty state of its own
    assert not (worktree / ".launcher").exists()
    assert json.loads(launcher_cli(wf_repo, "workflow", "list", "--all", "--json").stdout) == []
