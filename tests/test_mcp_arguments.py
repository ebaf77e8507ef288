"""The MCP tool `orchestrator` acts only on arguments it understood: an option of the wrong JSON
type (`"false"` for false) or one the action does not take (a misspelt `retryFailed`) is refused
with the structured envelope naming the known options, and nothing runs. Real repositories, the
real `launcher mcp` server over stdio through the official SDK client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.test_workflow_review import _call, _server, _state
from tests.test_workflows import _gate, _next, _scripts, _through_build, wf_repo  # noqa: F401  (the fixture)

pytest.importorskip("mcp")


def _paused_on_a_failed_build(repo: Path, tmp_path: Path) -> str:
    wid = _through_build(repo, _scripts(repo, **{"build-frontend": _gate(tmp_path / "never")}))
    _next(repo, wid)
    assert _state(repo, wid)["status"] == "paused"
    return wid


def test_a_text_false_for_skip_is_refused_and_the_failed_phase_is_not_skipped(
    wf_repo: Path, tmp_path: Path  # noqa: F811
) -> None:
    wid = _paused_on_a_failed_build(wf_repo, tmp_path)
    before = _state(wf_repo, wid)
    got: dict[str, Any] = {}

    async def scenario() -> None:
        async with _server(wf_repo) as session:
            got["skip"] = await _call(session, {"action": "next", "workflowId": wid, "options": {"skip": "false"}})
            got["retry"] = await _call(session, {"action": "resume", "workflowId": wid,
                                                 "options": {"retry_failed": "false"}})
            got["misspelt"] = await _call(session, {"action": "resume", "workflowId": wid,
                                                    "options": {"retryFailed": True}})
            got["other"] = await _call(session, {"action": "next", "workflowId": wid,
                                                 "options": {"retry_failed": True}})
            got["force"] = await _call(session, {"action": "cancel", "workflowId": wid, "options": {"force": 1}})
            got["list"] = await _call(session, {"action": "list", "options": {"all": True}})

    anyio.run(scenario)
    for name in ("skip", "retry", "misspelt", "other", "force"):
        assert got[name].get("ok") is False and got[name]["error_key"] == "usage:options", (name, got[name])
    assert "must be true or false" in got["skip"]["observations"] and "'false'" in got["skip"]["observations"]
    assert "retryFailed" in got["misspelt"]["observations"]
    assert "retry_failed" in got["misspelt"]["observations"]  # names the options resume takes
    assert "skip" in got["other"]["observations"]  # next takes skip, not retry_failed
    assert got["list"]["ok"] is True  # a real boolean is taken
    after = _state(wf_repo, wid)  # nothing ran: the failed phase is neither skipped nor retried
    assert after["status"] == "paused" and after["paused_on"] == "build"
    assert [p["status"] for p in after["phases"]] == [p["status"] for p in before["phases"]]
    assert after["runner_pid"] == before["runner_pid"]
