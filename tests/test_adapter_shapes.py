"""An agent CLI's output of any shape fails that task alone, never the run (DESIGN 14).

Fields of unexpected types (a number where a list is documented, an object for a session id, an
integer too large for a float), bytes that are not UTF-8: the faithful fakes (tests/fakes/) print
them in real runs; a property feeds arbitrary JSON into every adapter's reader; and whatever an
adapter still raises becomes an `unreadable_output` failure of its task (`engine.agent_round`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import make_request
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from launcher.agents.acp import AcpAdapter, _Turn
from launcher.agents.acp_client import AcpClient
from launcher.agents.aider import AiderAdapter
from launcher.agents.base import AgentOutcome, AgentRequest, sane_outcome
from launcher.agents.claude import ClaudeAdapter
from launcher.agents.codex import CodexAdapter
from launcher.agents.gemini import GeminiAdapter
from launcher.agents.opencode import OpencodeAdapter
from launcher.app.run.runner import RunOptions, resume_run, start_run
from launcher.engine.agent_round import Limits, run_agent_round
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport, TaskReport
from launcher.process import Supervised

FAKES = Path(__file__).parent / "fakes"
ACP_AGENT = [sys.executable, str(FAKES / "fake_acp_agent.py")]
EXAMPLES = int(os.environ.get("LAUNCHER_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def fake_env(tmp_path: Path, mode: str = "success", **more: str) -> dict[str, str]:
    return {"FAKE_MODE": mode, "FAKE_ARGV_LOG": str(tmp_path / "argv.jsonl"), **more}


def calls(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "argv.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_with(repo: Path, agents: dict[str, dict[str, Any]], tasks: list[dict[str, Any]]) -> RunReport:
    plan = validate_plan({"agents": agents, "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)


def task_of(report: RunReport, task_id: str) -> TaskReport:
    return next(t for t in report.tasks if t.id == task_id)


# --- real runs: the fakes print fields of unexpected types -----------------------------------------


@pytest.mark.parametrize(
    ("patch", "state", "message"),
    [
        ({"errors": 5}, "merged", None),  # `errors` matters only when the subtype is an error
        ({"permission_denials": 1}, "failed", "agent permission_denied: claude was denied 1 tool use(s)"),
        ({"subtype": "error_max_turns", "errors": {"a": 1}}, "failed", "agent max_turns"),
        ({"total_cost_usd": 10**400, "session_id": ["x"], "usage": {"input_tokens": 10**30}}, "merged", None),
    ],
)
def test_claude_fields_of_unexpected_types_fail_that_task_alone(
    repo: Path, tmp_path: Path, patch: dict[str, Any], state: str, message: str | None
) -> None:
    agents = {
        "claude": {"adapter": "claude", "set_env": fake_env(tmp_path, FAKE_RESULT_PATCH=json.dumps(patch))},
        "codex": {"adapter": "codex", "set_env": fake_env(tmp_path)},
    }
    tasks = [{"id": "odd", "agent": "claude", "prompt": "x"}, {"id": "fine", "agent": "codex", "prompt": "y"}]
    report = run_with(repo, agents, tasks)
    odd = task_of(report, "odd")
    assert odd.state == state, odd.message
    if message:
        assert message in odd.message
    assert task_of(report, "fine").state == "merged"  # the other task was not taken down with it
    if "total_cost_usd" in patch:
        assert odd.cost_usd in (None, 0)


@pytest.mark.parametrize(
    ("more", "message"),
    [
        ({"FAKE_CHANGES": "5"}, None),
        ({"FAKE_CHANGES": '[5, {"path": 7}, {"path": "a.txt"}]'}, None),
        # "caf" and the first byte of a character cut short: not UTF-8
        ({"FAKE_LAST_MESSAGE_HEX": "636166c3"}, "codex's final message is not the JSON object"),
    ],
)
def test_codex_output_of_unexpected_shape_fails_that_task_alone(
    repo: Path, tmp_path: Path, more: dict[str, str], message: str | None
) -> None:
    agents = {"codex": {"adapter": "codex", "set_env": fake_env(tmp_path, **more)},
              "claude": {"adapter": "claude", "set_env": fake_env(tmp_path)}}
    tasks = [{"id": "odd", "agent": "codex", "prompt": "x"}, {"id": "fine", "agent": "claude", "prompt": "y"}]
    report = run_with(repo, agents, tasks)
    odd = task_of(report, "odd")
    if message is None:
        assert odd.state == "merged", odd.message
    else:
        assert odd.state == "failed" and message in odd.message and "caf\ufffd" in odd.message
    assert task_of(report, "fine").state == "merged"


def test_an_adapter_that_raises_fails_its_task_and_resume_does_not_pay_again(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: CodexAdapter, request: AgentRequest, result: Supervised) -> AgentOutcome:
        raise TypeError("'int' object is not iterable")

    monkeypatch.setattr(CodexAdapter, "_read", broken)
    agents = {"codex": {"adapter": "codex", "set_env": fake_env(tmp_path)},
              "claude": {"adapter": "claude", "set_env": fake_env(tmp_path)}}
    tasks = [{"id": "odd", "agent": "codex", "prompt": "x"}, {"id": "fine", "agent": "claude", "prompt": "y"}]
    report = run_with(repo, agents, tasks)
    odd = task_of(report, "odd")
    assert odd.state == "failed"
    assert ("agent unreadable_output: the codex CLI's output could not be read: "
            "TypeError: 'int' object is not iterable") in odd.message
    assert task_of(report, "fine").state == "merged"
    assert sorted(c["cli"] for c in calls(tmp_path)) == ["claude", "codex"]  # no corrective round either
    again = anyio.run(resume_run, repo, report.run_id, lambda _e: None)
    assert task_of(again, "odd").state == "failed"
    assert len(calls(tmp_path)) == 2  # the finished round was not run (or paid) again


def test_a_driven_adapter_that_raises_fails_its_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: AcpAdapter, *args: Any) -> AgentOutcome:
        raise OverflowError("int too large to convert to float")

    monkeypatch.setattr(AcpAdapter, "_outcome", broken)
    request = make_request(tmp_path, "acp", command=ACP_AGENT, permission_mode="allow",
                           set_env={"FAKE_MODE": "success"})
    result = anyio.run(lambda: run_agent_round(AcpAdapter(), request, limits=Limits(timeout_s=30, inactivity_s=None)))
    assert result.outcome.error_kind == "unreadable_output"
    assert "the acp CLI's conversation could not be read: OverflowError" in result.outcome.message
    assert result.collected.contract is None


def test_what_an_outcome_measured_is_checked_before_it_is_used() -> None:
    outcome = sane_outcome(AgentOutcome(
        True, tokens={"input": 10**30, "output": 12, "bad": True}, cost_usd=float("inf"),  # type: ignore[dict-item]
        session_id="--dangerously-bypass-approvals-and-sandbox",
    ))
    assert outcome.tokens == {"output": 12}
    assert outcome.cost_usd is None and outcome.session_id is None
    assert outcome.extra["dropped"] == ["tokens.input", "tokens.bad", "cost_usd", "session_id"]
    assert sane_outcome(AgentOutcome(True, cost_usd=-1.0)).cost_usd is None
    assert sane_outcome(AgentOutcome(True, cost_usd=10**400)).cost_usd is None
    kept = sane_outcome(AgentOutcome(True, tokens={"input": 5}, cost_usd=0.5, session_id="ses_1"))
    assert (kept.tokens, kept.cost_usd, kept.session_id, kept.extra) == ({"input": 5}, 0.5, "ses_1", {})


# --- property: any JSON, any bytes, into every adapter's reader ------------------------------------

KEYS = ["type", "subtype", "is_error", "result", "errors", "permission_denials", "session_id", "sessionID",
        "usage", "total_cost_usd", "structured_output", "thread_id", "item", "changes", "text", "status",
        "message", "error", "part", "cost", "tokens", "state", "tool", "messageID", "response", "stats",
        "models", "code", "name", "data", "amount", "currency", "update", "sessionUpdate", "path", "content"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from(["", "-x", "success", "error_max_turns", "USD", "a\nb", "/etc/passwd", "item.completed"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=5)),
    max_leaves=20,
)


def fields(*keys: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with some of `keys`, each of any JSON value."""
    return st.fixed_dictionaries({}, optional={key: values for key in keys})


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def hand_made(stdout: str | bytes, stderr: str | bytes = b"", returncode: int | None = 0) -> Supervised:
    out = stdout.encode() if isinstance(stdout, str) else stdout
    err = stderr.encode() if isinstance(stderr, str) else stderr
    return Supervised(returncode=returncode, duration_s=1.0, pid=1, stdout_tail=out, stderr_tail=err)


def check(outcome: AgentOutcome) -> None:
    """An outcome the engine can record: JSON-writable once checked, a message that is text."""
    assert isinstance(outcome, AgentOutcome) and isinstance(outcome.message, str)
    checked = sane_outcome(outcome)
    json.dumps({"tokens": checked.tokens, "cost_usd": checked.cost_usd, "session_id": checked.session_id,
                "extra": checked.extra, "message": checked.message}, default=str)


def both_ways(adapter_type: type, request: AgentRequest, stdout: bytes, stderr: bytes, rc: int | None) -> None:
    """The adapter's reading of the kept tail, then of the same lines fed as they stream."""
    check(adapter_type().outcome(request, hand_made(stdout, stderr, rc)))
    streamed = adapter_type()
    if hasattr(streamed, "stdout_line"):
        for line in stdout.split(b"\n"):
            streamed.stdout_line(line)
        check(streamed.outcome(request, hand_made(stdout, stderr, rc)))


returncodes = st.sampled_from([0, 1, 53, None])


@FUZZ
@given(result=st.tuples(st.sampled_from(["success", "error_max_turns", "error_during_execution"]) | values,
                        fields("is_error", "result", "errors", "permission_denials", "session_id", "usage",
                               "total_cost_usd", "structured_output", "num_turns", "modelUsage")),
       rc=returncodes)
@example(result=("success", {"is_error": False, "result": "ok", "errors": 5}), rc=0)
@example(result=("success", {"is_error": False, "permission_denials": 1}), rc=0)
@example(result=("success", {"is_error": False, "total_cost_usd": 10**400}), rc=0)
def test_claude_reads_any_result_object(tmp_path: Path, result: tuple[Any, dict[str, Any]], rc: int | None) -> None:
    subtype, rest = result
    stdout = dumps({"type": "result", "subtype": subtype, **rest}).encode()
    both_ways(ClaudeAdapter, make_request(tmp_path, "claude"), stdout, b"", rc)


codex_events = st.lists(st.tuples(
    st.sampled_from(["thread.started", "turn.completed", "turn.failed", "error", "item.completed"]) | values,
    fields("thread_id", "usage", "error", "message"),
    st.one_of(values, st.tuples(st.sampled_from(["agent_message", "file_change", "command_execution"]) | values,
                                fields("changes", "text", "status", "id"))
              .map(lambda t: {"type": t[0], **t[1]})),
), max_size=6)


@FUZZ
@given(events=codex_events, last_message=st.none() | st.binary(max_size=40), rc=returncodes)
@example(events=[("item.completed", {}, {"type": "file_change", "changes": 5})], last_message=None, rc=0)
@example(events=[("turn.completed", {"usage": {"input_tokens": 1}}, None)], last_message=b"caf\xc3", rc=0)
def test_codex_reads_any_event_stream(
    tmp_path: Path, events: list[tuple[Any, dict[str, Any], Any]], last_message: bytes | None, rc: int | None
) -> None:
    request = make_request(tmp_path, "codex")
    path = CodexAdapter().last_message_path(request)
    path.unlink(missing_ok=True)
    if last_message is not None:
        path.write_bytes(last_message)
    stdout = "\n".join(dumps({"type": kind, **rest, "item": item}) for kind, rest, item in events).encode()
    both_ways(CodexAdapter, request, stdout, b"", rc)


@FUZZ
@given(stdout=fields("session_id", "response", "stats", "error"),
       stderr=st.one_of(values, st.builds(lambda e: {"error": e}, fields("type", "message", "code") | values)),
       rc=returncodes)
@example(stdout={"session_id": {"a": 1}, "stats": {"models": {"m": {"tokens": {"prompt": 10**400}}}}},
         stderr=None, rc=0)
def test_gemini_reads_any_documents(tmp_path: Path, stdout: dict[str, Any], stderr: Any, rc: int | None) -> None:
    both_ways(GeminiAdapter, make_request(tmp_path, "gemini"), ("log line\n" + dumps(stdout)).encode(),
              dumps(stderr).encode(), rc)


opencode_events = st.lists(st.tuples(
    st.sampled_from(["text", "tool_use", "step_start", "step_finish", "error"]) | values,
    fields("sessionID", "error"),
    fields("text", "messageID", "state", "tool", "cost", "tokens", "reason") | values,
), max_size=6)


@FUZZ
@given(events=opencode_events, noise=st.binary(max_size=30), rc=returncodes)
@example(events=[("step_finish", {}, {"cost": 10**400, "tokens": {"input": 1e300}})], noise=b"", rc=0)
def test_opencode_reads_any_event_stream(
    tmp_path: Path, events: list[tuple[Any, dict[str, Any], Any]], noise: bytes, rc: int | None
) -> None:
    stdout = noise + b"\n" + "\n".join(dumps({"type": k, **rest, "part": part}) for k, rest, part in events).encode()
    both_ways(OpencodeAdapter, make_request(tmp_path, "opencode"), stdout, b"", rc)


number = st.from_regex(r"\A[\d.]{1,400}[kKmM]?\Z")
usage_line = st.builds(
    lambda sent, got, msg, session: f"Tokens: {sent} sent, {got} received. Cost: ${msg} message, ${session} session.",
    number, number, st.from_regex(r"\A[\d.]{1,400}\Z"), st.from_regex(r"\A[\d.]{1,400}\Z"),
)


@FUZZ
@given(lines=st.lists(st.one_of(usage_line, st.text(max_size=40), st.just("Applied edit to app.py")), max_size=6),
       rc=returncodes)
@example(lines=["Tokens: 1 sent, 1 received. Cost: $1.2.3 message, $1.2.3 session."], rc=0)
@example(lines=["Tokens: " + "9" * 400 + " sent, 1 received."], rc=0)
def test_aider_reads_any_output(tmp_path: Path, lines: list[str], rc: int | None) -> None:
    request = make_request(tmp_path, "aider")
    both_ways(AiderAdapter, request, "\n".join(lines).encode("utf-8", "surrogatepass"), b"", rc)


class _Conn:
    """The transport an AcpClient answers through, recording the answers."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []

    async def respond(self, request_id: Any, result: Any = None, error: dict[str, Any] | None = None) -> None:
        self.answers.append({"id": request_id, "result": result, "error": error})


acp_messages = st.lists(st.one_of(
    st.builds(lambda u: {"method": "session/update", "params": {"update": u}},
              fields("sessionUpdate", "content", "toolCallId", "title", "cost", "used") | values),
    st.builds(lambda kind, p: {"id": 1, "method": kind, "params": p},
              st.sampled_from(["session/request_permission", "fs/read_text_file", "fs/write_text_file",
                               "terminal/create"]),
              fields("options", "toolCall", "path", "content", "line", "limit") | values),
), max_size=6)


@FUZZ
@given(messages=acp_messages, usage=values, stop=values)
@example(messages=[{"method": "session/update", "params": {"update": {
    "sessionUpdate": "usage_update", "cost": {"amount": 10**400, "currency": "USD"}}}}], usage=None, stop=None)
def test_acp_client_reads_any_message(tmp_path: Path, messages: list[dict[str, Any]], usage: Any, stop: Any) -> None:
    request = make_request(tmp_path, "acp", command=["agent"])
    conn = _Conn()
    client = AcpClient(request, conn)  # type: ignore[arg-type]
    client.collecting = True

    async def converse() -> None:
        for message in messages:
            await client.handle(message)

    anyio.run(converse)
    assert len(conn.answers) == sum(1 for m in messages if "id" in m)  # every request answered
    turn = _Turn(stop_reason=None if stop is None else str(stop), usage=usage if isinstance(usage, dict) else None)
    check(AcpAdapter()._outcome(request, client, None, turn, hand_made(b"")))
