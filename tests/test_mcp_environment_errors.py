"""Over MCP, a full disk or a resource limit reached while an action runs is the machine's
problem, said with its fix (as the CLI says it, exit 3), never "this is a launcher bug"."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.app.workflow import actions
from launcher.cli.mcp_server import orchestrator
from launcher.errors import EnvironmentProblem, launcher_error_in


@pytest.mark.parametrize(("error", "key"), [
    (OSError(errno.ENOSPC, "No space left on device"), "disk_full"),
    (OSError(errno.EMFILE, "Too many open files"), None),
])
def test_an_environment_error_over_mcp_is_an_environment_envelope(
        error: OSError, key: str | None, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(actions, "dispatch", failing)
    monkeypatch.chdir(repo)
    result = anyio.run(orchestrator, "list")
    envelope = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert getattr(result, "is_error", getattr(result, "isError", None)) is True
    assert envelope["error_key"] != "internal", envelope
    assert "launcher bug" not in json.dumps(envelope)
    if key:
        assert envelope["error_key"] == key
    else:
        assert "ulimit -n" in json.dumps(envelope)


def test_the_launchers_own_error_inside_a_task_group_is_said_as_itself(repo: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    damaged = EnvironmentProblem("the journal is damaged: run r-1", error_key="journal_damaged", fix="move it aside")

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise ExceptionGroup("unhandled errors in a TaskGroup", [damaged])

    monkeypatch.setattr(actions, "dispatch", failing)
    monkeypatch.chdir(repo)
    envelope = json.loads(anyio.run(orchestrator, "list").content[0].text)  # type: ignore[union-attr]
    assert envelope["error_key"] == "journal_damaged", envelope
    mixed = ExceptionGroup("g", [damaged, ValueError("a bug")])
    assert launcher_error_in(mixed) is None  # a bug beside it stays a bug
