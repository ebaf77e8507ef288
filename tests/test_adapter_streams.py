"""What an agent CLI reports is read from its whole stdout, in bounded memory.

`process.supervise` keeps only the last `DEFAULT_KEEP` bytes of a stream, so a reader of that
tail loses what came before: opencode's per-step costs (its stream has no final summary), the
thread id of Codex's first event (the session a revision round resumes), aider's per-message
usage. The adapters that need the whole stream read every stdout line as it streams
(`base.StreamingAdapter`, fed by `capped_log.LineFeed`); the tail, the log and the memory stay
bounded. Real subprocesses: the faithful fakes of tests/fakes/ with FAKE_FLOOD.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import PeakRss

from launcher import process
from launcher.agents.acp_client import KEPT, TEXT_KEPT, AcpClient
from launcher.agents.aider import AiderAdapter
from launcher.agents.base import AgentAdapter, AgentRequest
from launcher.agents.codex import CodexAdapter
from launcher.agents.opencode import OpencodeAdapter, OpencodeEvents
from launcher.capped_log import LineFeed
from launcher.engine.agent_round import Limits, RoundResult, run_agent_round
from launcher.models.plan import AgentConfig, Task

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def make_request(tmp_path: Path, adapter: str, *, iteration: int = 1, feedback: str | None = None,
                 **config: Any) -> AgentRequest:
    worktree, artifacts = tmp_path / "wt", tmp_path / "artifacts"
    worktree.mkdir(exist_ok=True)
    artifacts.mkdir(exist_ok=True)
    (worktree / "app.py").write_text("def sub(a, b):\n    return a - b\n")
    feedback_path = None
    if feedback is not None:
        feedback_path = artifacts / "feedback.json"
        feedback_path.write_text(feedback)
    return AgentRequest(
        run_id="r-20250101-000000-abcd", task=Task(id="t1", prompt="Add a greeting"), agent_name=adapter,
        config=AgentConfig.model_validate({"adapter": adapter, **config}), worktree=worktree,
        artifacts=artifacts, base_sha="0" * 40, iteration=iteration, contract_path=artifacts / "contract.agent.json",
        feedback_path=feedback_path, port_base=20000,
    )


def fake_env(tmp_path: Path, mode: str = "success", **more: str) -> dict[str, str]:
    return {"FAKE_MODE": mode, "FAKE_ARGV_LOG": str(tmp_path / "argv.jsonl"), **more}


def agent_round(adapter: AgentAdapter, request: AgentRequest) -> RoundResult:
    """One round as the engine runs it (the adapter's reader fed by the process wrapper)."""
    limits = Limits(timeout_s=120, inactivity_s=None, grace_s=1.0)
    return anyio.run(lambda: run_agent_round(adapter, request, limits=limits))


# --- the line feed ---------------------------------------------------------------------------------


def test_the_line_feed_hands_over_whole_lines_however_the_stream_is_cut() -> None:
    seen: list[bytes] = []
    feed = LineFeed(seen.append, max_line=10)
    for chunk in (b"ab", b"c\nde", b"f\n\ng", b"hij\n", b"0123456789AB", b"CD\nok\n", b"01234567", b"89xx\nlast"):
        feed.add(chunk)
    feed.close()
    assert seen == [b"abc", b"def", b"", b"ghij", b"ok", b"last"]
    assert feed.overlong == 2 and feed.lines == 6 and feed.error is None


def test_a_reader_that_raises_is_kept_and_called_no_more() -> None:
    seen: list[bytes] = []

    def reader(line: bytes) -> None:
        seen.append(line)
        if line == b"bad":
            raise ValueError("cannot read this")

    feed = LineFeed(reader)
    feed.add(b"one\nbad\ntwo\n")
    assert seen == [b"one", b"bad"] and isinstance(feed.error, ValueError) and feed.lines == 3


def test_supervise_feeds_every_line_of_a_flood_in_bounded_memory(tmp_path: Path) -> None:
    """200 MiB on one line (skipped, never buffered), then 400,000 short lines (every one read)."""
    code = (
        "import sys\n"
        "w = sys.stdout.buffer.write\n"
        "for _ in range(200):\n"
        "    w(b'x' * (1 << 20))\n"
        "w(b'\\n')\n"
        "for i in range(400000):\n"
        "    w(b'%d\\n' % i)\n"
    )
    count = [0, 0]

    def reader(line: bytes) -> None:
        count[0] += 1
        count[1] += int(line)

    with PeakRss() as memory:
        result = anyio.run(lambda: process.supervise(
            [sys.executable, "-c", code], cwd=tmp_path, env=dict(os.environ), log_path=tmp_path / "agent.log",
            timeout_s=120, log_cap=1 << 20, stdout_lines=reader, max_line=1 << 20,
        ))
    assert result.returncode == 0 and result.reader_error is None
    assert count == [400000, sum(range(400000))]
    assert any("1 stdout line(s) longer than 1048576 bytes were not read" in n for n in result.notes)
    assert len(result.stdout_tail) == process.DEFAULT_KEEP
    assert memory.growth < 60 * 1024 * 1024, f"launcher RSS grew by {memory.growth / 2**20:.0f} MiB"


# --- the adapters ----------------------------------------------------------------------------------


def test_opencode_cost_and_tokens_count_every_step_of_a_long_stream(tmp_path: Path) -> None:
    request = make_request(tmp_path, "opencode", set_env=fake_env(tmp_path, FAKE_FLOOD="100"))
    result = agent_round(OpencodeAdapter(), request)
    assert result.supervised is not None and result.supervised.stdout_bytes > 2 * process.DEFAULT_KEEP
    outcome = result.outcome
    assert outcome.ok, outcome.message
    assert outcome.cost_usd == pytest.approx(100 + 0.0125 + 0.0031)  # 100 steps at $1, then the fake's own two
    assert outcome.tokens is not None and outcome.tokens["input"] == 100 * 1000 + 21772 + 671
    assert outcome.extra["tool_calls"] == 101 and len(outcome.extra["tools"]) <= 200
    assert result.collected.contract is not None  # the final message is whole


def test_codex_keeps_the_session_of_a_long_stream_and_the_revision_round_resumes_it(tmp_path: Path) -> None:
    request = make_request(tmp_path, "codex", set_env=fake_env(tmp_path, FAKE_FLOOD="60"))
    result = agent_round(CodexAdapter(), request)
    assert result.supervised is not None and result.supervised.stdout_bytes > process.DEFAULT_KEEP
    log = (request.artifacts / "agent.log").read_text()
    first = json.loads(next(line for line in log.splitlines() if line.startswith("{")))
    assert first["type"] == "thread.started"
    assert result.outcome.ok, result.outcome.message
    assert result.outcome.session_id == first["thread_id"]

    revision = make_request(tmp_path, "codex", iteration=2, feedback='{"required_fixes": ["x"]}',
                            set_env=fake_env(tmp_path))
    again = agent_round(CodexAdapter(), revision)
    argv = [json.loads(line) for line in (tmp_path / "argv.jsonl").read_text().splitlines()][1]["argv"]
    assert argv[argv.index("resume") + 1] == first["thread_id"]
    assert again.outcome.session_id == first["thread_id"]


def test_aider_tokens_count_every_message_of_a_long_output(tmp_path: Path) -> None:
    request = make_request(tmp_path, "aider", set_env=fake_env(tmp_path, FAKE_FLOOD="50"))
    result = agent_round(AiderAdapter(), request)
    assert result.supervised is not None and result.supervised.stdout_bytes > process.DEFAULT_KEEP
    assert result.outcome.ok, result.outcome.message
    assert result.outcome.tokens is not None
    assert result.outcome.tokens["input"] == 50 * 1000 + 2400 and result.outcome.tokens["output"] == 50 * 10 + 180
    assert result.outcome.cost_usd == pytest.approx(0.0093)


def test_a_reader_failing_part_way_fails_the_task_saying_the_spend_may_be_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = OpencodeEvents.line

    def line(self: OpencodeEvents, raw: bytes | str) -> None:
        if self.steps >= 3:
            raise RecursionError("maximum recursion depth exceeded")
        real(self, raw)

    monkeypatch.setattr(OpencodeEvents, "line", line)
    request = make_request(tmp_path, "opencode", set_env=fake_env(tmp_path, FAKE_FLOOD="10"))
    result = agent_round(OpencodeAdapter(), request)
    outcome = result.outcome
    assert not outcome.ok and outcome.error_kind == "unreadable_output"
    assert outcome.message == (
        "the opencode CLI's output could not be read: RecursionError: maximum recursion depth exceeded "
        "(its cost and tokens may be undercounted)"
    )
    assert outcome.cost_usd == pytest.approx(2.0)  # what was counted before it stopped
    assert result.supervised is not None and result.supervised.returncode == 0


class _Conn:
    """The transport an AcpClient answers through."""

    def __init__(self) -> None:
        self.answers = 0

    async def respond(self, request_id: Any, result: Any = None, error: dict[str, Any] | None = None) -> None:
        self.answers += 1


def test_an_acp_session_is_kept_bounded_however_long_it_runs(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=["agent"])
    conn = _Conn()
    client = AcpClient(request, conn)  # type: ignore[arg-type]
    client.collecting = True

    def update(**fields: Any) -> dict[str, Any]:
        return {"method": "session/update", "params": {"update": fields}}

    async def session() -> None:
        for n in range(3000):
            chunk = {"type": "text", "text": f"{n:06d}" + "y" * 4090}
            await client.handle(update(sessionUpdate="agent_message_chunk", content=chunk))
            await client.handle(update(sessionUpdate="tool_call", toolCallId=f"call_{n}", title="Read"))
            await client.handle({"id": n, "method": "session/request_permission", "params": {
                "toolCall": {"toolCallId": f"call_{n}"}, "options": [{"optionId": "no", "kind": "reject_once"}]}})

    anyio.run(session)
    text = client.final_text
    assert len(text) == TEXT_KEPT and text.endswith("002999" + "y" * 4090)
    assert len(client.tool_calls) == KEPT and len(client.permissions) == KEPT
    assert client.refused == 3000 and conn.answers == 3000
