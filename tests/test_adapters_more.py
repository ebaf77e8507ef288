"""The aider, opencode and ACP adapters and `describe_agents`, against faithful fakes.

The fakes (tests/fakes/aider, tests/fakes/opencode, tests/fakes/fake_acp_agent.py) print what
the real programs print; a test puts them first on PATH and picks the behaviour with FAKE_MODE.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher import process
from launcher.agents.acp import AcpAdapter, DrivenAdapter
from launcher.agents.aider import AiderAdapter, api_error, parse_usage
from launcher.agents.base import AgentAdapter, AgentOutcome, AgentRequest
from launcher.agents.opencode import OpencodeAdapter, parse_events
from launcher.agents.registry import get_adapter
from launcher.app.agents_info import describe_agents
from launcher.app.run.runner import RunOptions, start_run
from launcher.engine.collect import collect_contract
from launcher.errors import ConfigError, EnvironmentProblem
from launcher.models.plan import AgentConfig, Task, validate_plan
from launcher.models.states import RunStatus
from launcher.process import Supervised

FAKES = Path(__file__).parent / "fakes"
ACP_AGENT = [sys.executable, str(FAKES / "fake_acp_agent.py")]


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def make_request(
    tmp_path: Path, adapter: str, *, iteration: int = 1, feedback: str | None = None,
    prompt: str = "Add a mul function to app.py", worktree: Path | None = None, **config: Any,
) -> AgentRequest:
    if worktree is None:
        worktree = tmp_path / "wt"
        worktree.mkdir(exist_ok=True)
        (worktree / "README.md").write_text("# sample\n")
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir(exist_ok=True)
    feedback_path = None
    if feedback is not None:
        feedback_path = artifacts / "feedback.json"
        feedback_path.write_text(feedback)
    return AgentRequest(
        run_id="r-20250101-000000-abcd", task=Task(id="t1", prompt=prompt), agent_name=adapter,
        config=AgentConfig.model_validate({"adapter": adapter, **config}), worktree=worktree,
        artifacts=artifacts, base_sha="0" * 40, iteration=iteration,
        contract_path=artifacts / "contract.agent.json", feedback_path=feedback_path, port_base=20000,
    )


def fake_env(tmp_path: Path, mode: str, **more: str) -> dict[str, str]:
    return {"FAKE_MODE": mode, "FAKE_ARGV_LOG": str(tmp_path / "argv.jsonl"),
            "FAKE_ACP_LOG": str(tmp_path / "acp.jsonl"), **more}


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def supervise(adapter: AgentAdapter, request: AgentRequest, *, timeout_s: float = 60,
              inactivity_s: float | None = None) -> tuple[Supervised, AgentOutcome]:
    invocation = adapter.invocation(request)
    run = partial(
        process.supervise, invocation.argv, cwd=request.worktree, env=invocation.env,
        log_path=request.artifacts / "agent.log", timeout_s=timeout_s, inactivity_s=inactivity_s,
        grace_s=0.5,
    )
    supervised = anyio.run(run)
    return supervised, adapter.outcome(request, supervised)


@dataclass
class Limits:  # the engine's Limits, as drive() sees it
    timeout_s: float = 30.0
    inactivity_s: float | None = None
    grace_s: float = 1.0
    log_cap: int = 1024 * 1024


def drive(request: AgentRequest, **limits: Any) -> tuple[AgentOutcome, Supervised]:
    spawned: list[int] = []
    result = anyio.run(partial(AcpAdapter().drive, request, Limits(**limits), on_spawn=spawned.append))
    assert spawned == [result[1].pid]
    return result


def group_gone(pgid: int) -> bool:
    return not process.group_alive(pgid)


# --- argv and environment ------------------------------------------------------------------------


def test_aider_argv_is_a_list_with_the_prompt_as_one_element_and_no_git_vars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_DIR", "/elsewhere/.git")
    monkeypatch.setenv("GIT_INDEX_FILE", "/elsewhere/index")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("UNRELATED_SECRET", "nope")
    prompt = "Add mul; don't `rm -rf` anything $(whoami) && echo pwned"
    request = make_request(tmp_path, "aider", prompt=prompt, model="sonnet", extra_args=["--map-tokens", "1024"])
    invocation = AiderAdapter().invocation(request)
    argv = invocation.argv
    assert argv[0] == "aider"
    message = argv[argv.index("--message") + 1]
    assert prompt in message and "completion contract" in message  # one element: task + contract rules
    assert sum(prompt in part for part in argv) == 1
    assert {"--yes-always", "--no-auto-commits", "--no-gitignore", "--no-pretty"} <= set(argv)
    assert argv[argv.index("--model") + 1] == "sonnet"
    assert argv[-2:] == ["--map-tokens", "1024"]
    env = invocation.env
    assert not [k for k in env if k.startswith("GIT_")]
    assert env["ANTHROPIC_API_KEY"] == "sk-ant-test" and "UNRELATED_SECRET" not in env
    assert env["LAUNCHER_TASK_ID"] == "t1" and env["LAUNCHER_CONTRACT"] == str(request.contract_path)


def test_aider_never_receives_a_prompt_it_would_run_as_a_command(tmp_path: Path) -> None:
    request = make_request(tmp_path, "aider", prompt="/run rm -rf ~ please")
    argv = AiderAdapter().invocation(request).argv
    assert argv[argv.index("--message") + 1].startswith("Task:\n/run")


def test_aider_files_are_excluded_from_git(tmp_path: Path) -> None:
    repo = tmp_path / "wt"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    AiderAdapter().invocation(make_request(tmp_path, "aider", worktree=repo))
    AiderAdapter().invocation(make_request(tmp_path, "aider", worktree=repo))
    lines = (repo / ".git" / "info" / "exclude").read_text().splitlines()
    assert lines.count(".aider*") == 1


def test_opencode_argv_env_and_permission_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_WORK_TREE", "/elsewhere")
    request = make_request(tmp_path, "opencode", prompt="-fix the bug", model="anthropic/claude-sonnet-4",
                           permission_mode="allow")
    invocation = OpencodeAdapter().invocation(request)
    argv = invocation.argv
    assert argv[:4] == ["opencode", "run", "--format", "json"]
    assert argv[argv.index("--model") + 1] == "anthropic/claude-sonnet-4"
    assert argv[-2] == "--" and argv[-1].startswith("-fix the bug")  # after --: never an option
    assert "--session" not in argv
    env = invocation.env
    assert not [k for k in env if k.startswith("GIT_")]
    assert env["OPENCODE_DISABLE_AUTOUPDATE"] == "1"
    assert json.loads(env["OPENCODE_PERMISSION"])["bash"] == "allow"
    plain = OpencodeAdapter().invocation(make_request(tmp_path, "opencode"))
    assert "OPENCODE_PERMISSION" not in plain.env  # opencode's own configuration applies


def test_acp_needs_a_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="command"):
        AcpAdapter().invocation(make_request(tmp_path, "acp"))
    request = make_request(tmp_path, "acp", command=["my-agent", "--acp"], extra_args=["--x"])
    assert AcpAdapter().invocation(request).argv == ["my-agent", "--acp", "--x"]
    assert isinstance(get_adapter("acp"), DrivenAdapter)
    assert not isinstance(get_adapter("aider"), DrivenAdapter)
    assert {type(get_adapter(n)) for n in ("aider", "opencode")} == {AiderAdapter, OpencodeAdapter}


# --- aider outcomes ------------------------------------------------------------------------------


def test_aider_success_yields_reply_usage_and_contract(tmp_path: Path) -> None:
    request = make_request(tmp_path, "aider", set_env=fake_env(tmp_path, "success"))
    (request.worktree / "app.py").write_text("def sub(a, b):\n    return a - b\n")
    result, outcome = supervise(AiderAdapter(), request)
    assert result.returncode == 0
    assert outcome.ok, outcome.message
    assert "def mul" in (request.worktree / "app.py").read_text()
    assert outcome.tokens == {"input": 2400, "output": 180, "cache_read": 1100, "cache_write": 0}
    assert outcome.cost_usd == pytest.approx(0.0093)
    assert outcome.extra["applied_edits"] == ["app.py"]
    assert "Aider v" not in outcome.final_text and "Tokens:" not in outcome.final_text
    collected = collect_contract("t1", structured=None, contract_path=request.contract_path,
                                 final_text=outcome.final_text)
    assert collected.origin == "final_message" and collected.contract is not None
    assert collected.contract.files_changed == ["app.py"]
    call = jsonl(tmp_path / "argv.jsonl")[0]
    assert call["cwd"] == str(request.worktree) and not [k for k in call["env"] if k.startswith("GIT_")]
    assert (request.artifacts / "aider.chat.history.md").exists()  # not in the worktree
    assert not (request.worktree / ".aider.chat.history.md").exists()


def test_aider_auth_error_exits_zero_yet_is_an_api_error(tmp_path: Path) -> None:
    request = make_request(tmp_path, "aider", set_env=fake_env(tmp_path, "auth_error"))
    result, outcome = supervise(AiderAdapter(), request)
    assert result.returncode == 0
    assert outcome.error_kind == "api_error"
    assert "not able to authenticate you" in outcome.message and "invalid x-api-key" in outcome.message


def test_aider_rate_limit_is_an_api_error(tmp_path: Path) -> None:
    request = make_request(tmp_path, "aider", set_env=fake_env(tmp_path, "rate_limit"))
    _, outcome = supervise(AiderAdapter(), request)
    assert outcome.error_kind == "api_error" and "rate limited you" in outcome.message


def test_aider_crash_reports_the_last_lines(tmp_path: Path) -> None:
    request = make_request(tmp_path, "aider", set_env=fake_env(tmp_path, "crash"))
    result, outcome = supervise(AiderAdapter(), request)
    assert result.returncode == 1 and outcome.error_kind == "crashed"
    assert "exited with code 1" in outcome.message and "No space left on device" in outcome.message


def test_aider_usage_error_is_a_crash_naming_the_argument(tmp_path: Path) -> None:
    request = make_request(tmp_path, "aider", extra_args=["--bogus-flag"], set_env=fake_env(tmp_path, "success"))
    result, outcome = supervise(AiderAdapter(), request)
    assert result.returncode == 2 and outcome.error_kind == "crashed"
    assert "unrecognized arguments: --bogus-flag" in outcome.message


def test_aider_waiting_at_the_openrouter_login_is_named(tmp_path: Path) -> None:
    request = make_request(tmp_path, "aider", set_env=fake_env(tmp_path, "oauth"))
    result, outcome = supervise(AiderAdapter(), request, inactivity_s=1.0)
    assert result.stalled
    assert outcome.error_kind == "api_error" and "OpenRouter" in outcome.message


def test_aider_text_readers() -> None:
    assert api_error("Warning for gpt-4o: Missing these environment variables:\n- OPENAI_API_KEY\n") == (
        "Missing these environment variables: OPENAI_API_KEY"
    )
    assert api_error("Applied edit to app.py\n") is None
    tokens, cost = parse_usage(
        "Tokens: 12k sent, 3.4k cache write, 250 received. Cost: $0.05 message, $0.05 session.\n"
        "Tokens: 1.5k sent, 10 received. Cost: $0.0012 message, $0.0512 session.\n"
    )
    # aider's "sent" holds its cache write: booked once, under cache_write (12k - 3.4k + 1.5k)
    assert tokens == {"input": 10100, "output": 260, "cache_read": 0, "cache_write": 3400}
    assert cost == pytest.approx(0.0512)


# --- opencode outcomes ---------------------------------------------------------------------------


def test_opencode_success_parses_events(tmp_path: Path) -> None:
    request = make_request(tmp_path, "opencode", set_env=fake_env(tmp_path, "success"))
    _, outcome = supervise(OpencodeAdapter(), request)
    assert outcome.ok, outcome.message
    assert outcome.session_id and outcome.session_id.startswith("ses_")
    assert outcome.cost_usd == pytest.approx(0.0156)
    assert outcome.tokens is not None and outcome.tokens["input"] == 22443 and outcome.tokens["cache_read"] == 21415
    assert (request.worktree / "opencode_t1.txt").exists()
    collected = collect_contract("t1", structured=None, contract_path=request.contract_path,
                                 final_text=outcome.final_text)
    assert collected.contract is not None and collected.contract.files_changed == ["opencode_t1.txt"]


def test_opencode_ignores_non_json_lines(tmp_path: Path) -> None:
    request = make_request(tmp_path, "opencode", set_env=fake_env(tmp_path, "noisy"))
    _, outcome = supervise(OpencodeAdapter(), request)
    assert outcome.ok and outcome.extra["non_json_lines"] == 1


@pytest.mark.parametrize(("mode", "code"), [("auth_error", 0), ("api_error", 1)])
def test_opencode_error_events_are_api_errors(tmp_path: Path, mode: str, code: int) -> None:
    request = make_request(tmp_path, "opencode", set_env=fake_env(tmp_path, mode))
    result, outcome = supervise(OpencodeAdapter(), request)
    assert result.returncode == code
    assert outcome.error_kind == "api_error"
    assert ("ProviderAuthError" if mode == "auth_error" else "Rate limit exceeded") in outcome.message


def test_opencode_auto_rejected_permission_is_permission_denied(tmp_path: Path) -> None:
    request = make_request(tmp_path, "opencode", set_env=fake_env(tmp_path, "permission"))
    result, outcome = supervise(OpencodeAdapter(), request)
    assert result.returncode == 0
    assert outcome.error_kind == "permission_denied" and "rejected permission" in outcome.message


def test_opencode_crash_without_events(tmp_path: Path) -> None:
    request = make_request(tmp_path, "opencode", set_env=fake_env(tmp_path, "crash"))
    _, outcome = supervise(OpencodeAdapter(), request)
    assert outcome.error_kind == "crashed" and "undefined is not an object" in outcome.message


def test_opencode_revision_round_resumes_the_session(tmp_path: Path) -> None:
    first = make_request(tmp_path, "opencode", set_env=fake_env(tmp_path, "success"))
    _, outcome = supervise(OpencodeAdapter(), first)
    assert outcome.session_id
    second = make_request(tmp_path, "opencode", iteration=2, feedback='{"required_fixes": ["app.py:1 — x"]}',
                          set_env=fake_env(tmp_path, "success"))
    _, again = supervise(OpencodeAdapter(), second)
    calls = jsonl(tmp_path / "argv.jsonl")
    argv = calls[1]["argv"]
    assert argv[argv.index("--session") + 1] == outcome.session_id
    assert "app.py:1 — x" in argv[-1]
    assert again.session_id == outcome.session_id


def test_opencode_event_reader_is_lenient() -> None:
    seen = parse_events('not json\n[1,2]\n{"type":"text","part":{"text":"a","messageID":"m1"}}\n'
                        '{"type":"text","part":{"text":"b","messageID":"m2"}}\n'
                        '{"type":"text","part":{"text":"c","messageID":"m2"}}\n{"type":"mystery"}\n')
    assert seen.final_text == "b\nc" and seen.noise == 2 and seen.events == 4


# --- ACP -----------------------------------------------------------------------------------------


def test_acp_agent_completes_a_task_with_one_permission_request(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT, permission_mode="acceptEdits",
                           set_env=fake_env(tmp_path, "success"))
    outcome, result = drive(request)
    assert outcome.ok, outcome.message
    assert result.returncode == 0 and not result.timed_out and group_gone(result.pid)
    assert (request.worktree / "acp_note.txt").read_text() == "written through the ACP client\n"
    # The permission request was answered, with the one-shot allow option.
    log = jsonl(tmp_path / "acp.jsonl")
    asked = next(e["msg"] for e in log if e["dir"] == "out" and e["msg"].get("method") == "session/request_permission")
    answer = next(e["msg"] for e in log if e["dir"] == "in" and e["msg"].get("id") == asked["id"])
    assert answer["result"] == {"outcome": {"outcome": "selected", "optionId": "allow-once"}}
    assert outcome.extra["permissions"][0]["decision"] == "allowed"
    init = next(e["msg"] for e in log if e["dir"] == "in" and e["msg"].get("method") == "initialize")
    assert init["params"]["protocolVersion"] == 1
    assert init["params"]["clientCapabilities"]["fs"] == {"readTextFile": True, "writeTextFile": True}
    new = next(e["msg"] for e in log if e["dir"] == "in" and e["msg"].get("method") == "session/new")
    assert new["params"] == {"cwd": str(request.worktree), "mcpServers": []}
    read = next(e["msg"] for e in log if e["dir"] == "out" and e["msg"].get("method") == "fs/read_text_file")
    read_answer = next(e["msg"] for e in log if e["dir"] == "in" and e["msg"].get("id") == read["id"])
    assert read_answer["result"] == {"content": "# sample\n"}
    # Final message, cost, tokens, session.
    assert outcome.cost_usd == pytest.approx(0.0123)
    assert outcome.tokens == {"input": 1200, "output": 340, "total": 1540}
    assert outcome.session_id and outcome.session_id.startswith("sess_")
    collected = collect_contract("t1", structured=None, contract_path=request.contract_path,
                                 final_text=outcome.final_text)
    assert collected.contract is not None and collected.contract.files_changed == ["acp_note.txt"]
    assert b"session/prompt" in (request.artifacts / "agent.log").read_bytes()


def test_acp_permission_rejected_by_default_policy(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT, set_env=fake_env(tmp_path, "success"))
    outcome, _ = drive(request)
    assert outcome.error_kind == "permission_denied"
    assert "Write acp_note.txt" in outcome.message and 'permission_mode = "acceptEdits"' in outcome.message
    assert not (request.worktree / "acp_note.txt").exists()
    log = jsonl(tmp_path / "acp.jsonl")
    answers = [e["msg"]["result"] for e in log if e["dir"] == "in" and "outcome" in (e["msg"].get("result") or {})]
    assert answers == [{"outcome": {"outcome": "selected", "optionId": "reject-once"}}]


def test_acp_fs_is_confined_to_the_worktree(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    request = make_request(tmp_path, "acp", command=ACP_AGENT, permission_mode="allow",
                           set_env=fake_env(tmp_path, "escape", FAKE_ACP_OUTSIDE=str(outside)))
    outcome, result = drive(request)
    assert not outside.exists()
    assert outcome.extra["fs_refusals"] == [str(outside), "/etc/hostname"]
    log = jsonl(tmp_path / "acp.jsonl")
    errors = [e["msg"]["error"]["message"] for e in log if e["dir"] == "in" and "error" in e["msg"]]
    assert len(errors) == 2 and all("outside the task's worktree" in m for m in errors)
    assert outcome.ok and any("refused fs access" in n for n in result.notes)


def test_acp_contract_written_to_launcher_contract(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT, permission_mode="allow",
                           set_env=fake_env(tmp_path, "contract_file"))
    outcome, _ = drive(request)
    assert outcome.ok
    collected = collect_contract("t1", structured=None, contract_path=request.contract_path,
                                 final_text=outcome.final_text)
    assert collected.origin == "contract_file" and collected.contract is not None


def test_acp_auth_required_is_an_api_error(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT, set_env=fake_env(tmp_path, "auth"))
    outcome, result = drive(request)
    assert outcome.error_kind == "api_error" and "Authentication required" in outcome.message
    assert group_gone(result.pid)


def test_acp_agent_crash_is_reported_with_its_stderr(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT, set_env=fake_env(tmp_path, "crash"))
    outcome, result = drive(request)
    assert result.returncode == 3
    assert outcome.error_kind == "crashed" and "failed to load model config" in outcome.message


@pytest.mark.parametrize(("mode", "kind"), [("refusal", "crashed"), ("max_turns", "max_turns")])
def test_acp_stop_reasons(tmp_path: Path, mode: str, kind: str) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT, permission_mode="allow",
                           set_env=fake_env(tmp_path, mode))
    outcome, _ = drive(request)
    assert outcome.error_kind == kind


def test_acp_timeout_kills_the_group(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT, set_env=fake_env(tmp_path, "hang"))
    outcome, result = drive(request, timeout_s=1.5)
    assert result.timed_out and outcome.error_kind == "timeout"
    assert "session/prompt" in outcome.message
    assert group_gone(result.pid)


def test_acp_inactivity_is_a_stall(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT, set_env=fake_env(tmp_path, "hang"))
    outcome, result = drive(request, inactivity_s=1.0)
    assert result.stalled and outcome.error_kind == "stalled" and group_gone(result.pid)


def test_acp_agent_that_ignores_eof_is_ended_after_its_turn(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT, permission_mode="allow",
                           set_env=fake_env(tmp_path, "ignore_eof"))
    outcome, result = drive(request, grace_s=0.5)
    assert outcome.ok and result.returncode == 0 and group_gone(result.pid)
    assert any("after its turn" in n for n in result.notes)


def test_acp_ignores_non_protocol_stdout(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT, permission_mode="allow",
                           set_env=fake_env(tmp_path, "noisy"))
    outcome, result = drive(request)
    assert outcome.ok and any("non-JSON" in n for n in result.notes)


def test_acp_revision_round_loads_the_previous_session(tmp_path: Path) -> None:
    first = make_request(tmp_path, "acp", command=ACP_AGENT, permission_mode="allow",
                         set_env=fake_env(tmp_path, "success"))
    outcome, _ = drive(first)
    second = make_request(tmp_path, "acp", command=ACP_AGENT, permission_mode="allow", iteration=2,
                          feedback='{"required_fixes": ["acp_note.txt:1 — say hello"]}',
                          set_env=fake_env(tmp_path, "success"))
    again, _ = drive(second)
    log = jsonl(tmp_path / "acp.jsonl")
    load = next(e["msg"] for e in log if e["dir"] == "in" and e["msg"].get("method") == "session/load")
    assert load["params"]["sessionId"] == outcome.session_id == again.session_id
    prompts = [e["msg"] for e in log if e["dir"] == "in" and e["msg"].get("method") == "session/prompt"]
    assert "say hello" in prompts[-1]["params"]["prompt"][0]["text"]
    assert "history replayed" not in again.final_text  # replayed history is not this turn's message


def test_acp_missing_command_raises_like_supervise(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=["no-such-acp-agent-xyz"])
    with pytest.raises(FileNotFoundError):
        drive(request)


def test_acp_adapter_run_as_a_plain_process_fails_clearly(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT)
    outcome = AcpAdapter().outcome(request, Supervised(returncode=0, duration_s=0.1, pid=1))
    assert outcome.error_kind == "crashed" and "drive()" in outcome.message


def test_acp_cancellation_kills_the_agent(tmp_path: Path) -> None:
    request = make_request(tmp_path, "acp", command=ACP_AGENT, set_env=fake_env(tmp_path, "hang"))
    pids: list[int] = []

    async def main() -> None:
        with anyio.move_on_after(1.0):
            await AcpAdapter().drive(request, Limits(), on_spawn=pids.append)

    anyio.run(main)
    assert pids and group_gone(pids[0])
    with pytest.raises(ProcessLookupError):
        os.killpg(pids[0], signal.SIGKILL)


# --- end to end ----------------------------------------------------------------------------------


def test_aider_task_lands_through_a_real_run(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "argv.jsonl"
    plan = validate_plan({
        "agents": {"aid": {"adapter": "aider", "model": "sonnet", "set_env": {"FAKE_ARGV_LOG": str(log)}}},
        "task": [{"id": "mul", "title": "Add mul", "agent": "aid", "prompt": "Add a mul function to app.py"}],
    }, "test plan")
    report = anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)
    assert report.status == RunStatus.SUCCEEDED, report.model_dump_json(indent=1)
    task = report.tasks[0]
    assert task.state == "merged"
    assert task.contract is not None and task.contract["files_changed"] == ["app.py"]
    assert "def mul(a, b):" in (repo / "app.py").read_text()
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert ".aider" not in tracked  # aider's cache and history never land
    call = jsonl(log)[0]
    assert call["cwd"] != str(repo) and Path(call["cwd"]).name == "mul"
    assert not [k for k in call["env"] if k.startswith("GIT_")]


# --- describe_agents -----------------------------------------------------------------------------


def test_describe_agents_reports_versions_and_install_hints(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("aider", "opencode"):
        (bin_dir / name).symlink_to(FAKES / name)
    search = f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}"
    configs = {
        "bot": AgentConfig(adapter="acp", command=ACP_AGENT),
        "old-aider": AgentConfig(adapter="aider", command=[str(tmp_path / "nope" / "aider")]),
        "noacp": AgentConfig(adapter="acp"),
    }
    rows = {row.name: row for row in anyio.run(partial(describe_agents, configs, search_path=search))}
    assert rows["aider"].found and rows["aider"].version == "aider 0.86.2"
    assert rows["aider"].path == str(bin_dir / "aider") and rows["aider"].install_hint is None
    assert rows["opencode"].found and rows["opencode"].version == "1.18.33"
    assert not rows["claude"].found
    assert rows["claude"].install_hint == "npm install -g @anthropic-ai/claude-code"
    assert rows["codex"].install_hint == "npm install -g @openai/codex"
    assert rows["gemini"].install_hint == "npm install -g @google/gemini-cli"
    assert rows["scripted"].found
    assert rows["bot"].found and rows["bot"].version is None  # an arbitrary program is not run
    assert not rows["old-aider"].found
    assert rows["old-aider"].install_hint == "python -m pip install aider-install && aider-install"
    assert not rows["noacp"].found and "acp" in (rows["noacp"].install_hint or "")
    assert json.loads(json.dumps(rows["claude"].as_dict()))["found"] is False


def test_missing_aider_stops_the_run_with_an_install_hint(repo: Path, tmp_path: Path) -> None:
    plan = validate_plan({
        "agents": {"aid": {"adapter": "aider", "command": [str(tmp_path / "nowhere" / "aider")]}},
        "task": [{"id": "mul", "agent": "aid", "prompt": "Add a mul function"}],
    }, "test plan")
    with pytest.raises(EnvironmentProblem) as raised:  # preflight, before anything is created
        anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)
    assert "aider-install" in raised.value.message


def test_acp_agent_lands_through_a_real_run_beside_aider(repo: Path, tmp_path: Path) -> None:
    plan = validate_plan({
        "agents": {
            "acp-bot": {"adapter": "acp", "command": ACP_AGENT, "permission_mode": "acceptEdits",
                        "set_env": fake_env(tmp_path, "success")},
            "aid": {"adapter": "aider", "set_env": {"FAKE_ARGV_LOG": str(tmp_path / "aider.jsonl")}},
        },
        "task": [
            {"id": "note", "agent": "acp-bot", "prompt": "Write a note through ACP"},
            {"id": "mul", "agent": "aid", "prompt": "Add a mul function to app.py"},
        ],
    }, "test plan")
    report = anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)
    assert [t.state for t in report.tasks] == ["merged", "merged"], [t.message for t in report.tasks]
    assert (repo / "acp_note.txt").read_text() == "written through the ACP client\n"
    assert "def mul(a, b):" in (repo / "app.py").read_text()
