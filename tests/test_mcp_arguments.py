"""The MCP tool `orchestrator`: a refusal is a tool result flagged `isError` that carries the
structured envelope (as text and as structured content); and it acts only on arguments it
understood: an option of the wrong JSON type (`"false"` for false) or one the action does not
take (a misspelt `retryFailed`) is refused with the envelope naming the known options, and
nothing runs. Real repositories, the real `launcher mcp` server over stdio, the official SDK."""

from __future__ import annotations

import json
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


def test_a_refused_call_is_an_error_result_carrying_the_envelope_and_a_done_one_is_not(
    wf_repo: Path,  # noqa: F811
) -> None:
    results: dict[str, Any] = {}

    async def scenario() -> None:
        async with _server(wf_repo) as session:
            for name, arguments in {
                "unknown workflow": {"action": "status", "workflowId": "wf_000000000000"},
                "unknown action": {"action": "dance"},
                "missing parameter": {"action": "start", "workflow": "mini"},
                "done": {"action": "analyze", "context": "add an api endpoint"},
            }.items():
                results[name] = await session.call_tool("orchestrator", arguments)

    anyio.run(scenario)
    for name, key in (("unknown workflow", "workflow_not_found"), ("unknown action", "usage:action"),
                      ("missing parameter", "workflow_param_missing")):
        result = results[name]
        envelope = json.loads(result.content[0].text)  # the text stays the envelope's JSON
        assert _is_error(result) is True, (name, result)
        assert envelope["ok"] is False and envelope["error_key"] == key, (name, envelope)
        assert _structured(result) == envelope  # and a client can branch on it without parsing text
    done = results["done"]
    assert _is_error(done) is False
    assert json.loads(done.content[0].text)["ok"] is True and _structured(done)["ok"] is True


def _is_error(result: Any) -> Any:
    return getattr(result, "is_error", None) if hasattr(result, "is_error") else result.isError  # mcp 2.x, 1.x


def _structured(result: Any) -> Any:
    return getattr(result, "structured_content", None) if hasattr(result, "structured_content") \
        else result.structuredContent
