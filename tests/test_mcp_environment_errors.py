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
