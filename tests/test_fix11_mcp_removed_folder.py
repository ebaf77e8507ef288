"""A command whose folder was removed under it (a linked worktree `git worktree remove` took away
while a shell, or an MCP client that started `launcher mcp`, was in it) says that the folder no
longer exists and how to go on: an environment error (exit 3; over MCP the envelope, flagged
isError), never "this is a launcher bug" and never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from helpers import git

pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def test_the_mcp_server_in_a_removed_worktree_says_its_folder_is_gone(repo: Path, tmp_path: Path) -> None:
    worktree = tmp_path / "feature"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(worktree))
    server = StdioServerParameters(command=sys.executable, args=["-m", "launcher", "mcp"], cwd=str(worktree),
                                   env=_env())
    got: dict[str, object] = {}

    async def scenario() -> None:
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            got["before"] = await session.call_tool("orchestrator", {"action": "list"})
            git(repo, "worktree", "remove", "--force", str(worktree))
            got["after"] = await session.call_tool("orchestrator", {"action": "list"})
            got["again"] = await session.call_tool("orchestrator", {"action": "status"})

    anyio.run(scenario)
    before = got["before"]
    assert json.loads(before.content[0].text)["ok"] is True  # type: ignore[attr-defined]
    for name in ("after", "again"):
        result = got[name]
        envelope = json.loads(result.content[0].text)  # type: ignore[attr-defined]
        assert getattr(result, "is_error", getattr(result, "isError", None)) is True, envelope
        assert envelope["error_key"] == "cwd_removed", envelope
        assert f"the MCP server's folder {worktree} no longer exists" in envelope["observations"]
        assert "restart `launcher mcp` in the repository's main checkout" in envelope["usage"]
        assert "launcher bug" not in json.dumps(envelope)


def test_a_cli_command_in_a_removed_worktree_says_the_folder_is_gone_without_a_traceback(
        repo: Path, tmp_path: Path) -> None:
    worktree = tmp_path / "feature"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(worktree))
    # a shell in the worktree, which is removed before the command starts there
    script = 'cd "$1" && git -C "$2" worktree remove --force "$1" && exec "$3" -m launcher "$4" list "$5"'
    done = {mode: subprocess.run(["sh", "-c", script, "sh", str(worktree), str(repo), sys.executable, "workflow",
                                  mode], env=_env(), capture_output=True, text=True, timeout=120)
            for mode in ("--json",)}
    git(repo, "worktree", "add", "-q", str(worktree), "feature")
    done["--all"] = subprocess.run(["sh", "-c", script, "sh", str(worktree), str(repo), sys.executable, "workflow",
                                    "--all"], env=_env(), capture_output=True, text=True, timeout=120)

    as_json, plain = done["--json"], done["--all"]
    assert as_json.returncode == 3, as_json.stderr
    envelope = json.loads(as_json.stdout)
    assert envelope["error_key"] == "cwd_removed" and f"the current folder {worktree} no longer exists" \
        in envelope["observations"], envelope
    assert plain.returncode == 3, plain.stderr
    assert f"error: the current folder {worktree} no longer exists" in plain.stderr
    assert f"cd {worktree.parent}" in plain.stderr  # how to leave it
    for run in (as_json, plain):
        assert "Traceback" not in run.stderr and "launcher bug" not in run.stderr + run.stdout, run.stderr
