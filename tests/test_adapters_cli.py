"""The Claude Code, Codex CLI and Gemini CLI adapters, against faithful fakes of the real CLIs.

The fakes (tests/fakes/) print what the real binaries print, line for line, for every case of
DESIGN 6; a test puts them first on PATH and picks the behaviour with FAKE_MODE.
"""

from __future__ import annotations

import json
import os
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher import process
from launcher.agents.base import AgentAdapter, AgentOutcome, AgentRequest
from launcher.agents.claude import ClaudeAdapter
from launcher.agents.cli_common import contract_schema, positional
from launcher.agents.codex import CodexAdapter
from launcher.agents.gemini import GeminiAdapter
from launcher.agents.prompts import detect_prompt
from launcher.agents.registry import get_adapter
from launcher.app.run.runner import RunOptions, start_run
from launcher.errors import EnvironmentProblem
from launcher.models.contract import REQUIRED_KEYS, check_contract
from launcher.models.plan import AgentConfig, Task, validate_plan
from launcher.models.report import RunReport, TaskReport
from launcher.process import Supervised

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def make_request(
    tmp_path: Path, adapter: str, *, iteration: int = 1, attempt: int = 1,
    session_id: str | None = None, feedback: str | None = None, prompt: str = "Add a greeting",
    task_budget: float | None = None, **config: Any,
) -> AgentRequest:
    worktree = tmp_path / "wt"
    artifacts = tmp_path / "artifacts"
    worktree.mkdir(exist_ok=True)
    artifacts.mkdir(exist_ok=True)
    feedback_path = None
    if feedback is not None:
        feedback_path = artifacts / "feedback.json"
        feedback_path.write_text(feedback)
    return AgentRequest(
        run_id="r-20250101-000000-abcd", task=Task(id="t1", prompt=prompt, budget_usd=task_budget),
        agent_name=adapter, config=AgentConfig.model_validate({"adapter": adapter, **config}), worktree=worktree,
        artifacts=artifacts, base_sha="0" * 40, iteration=iteration,
        contract_path=artifacts / "contract.agent.json", feedback_path=feedback_path,
        port_base=20000, session_id=session_id, attempt=attempt,
    )


def fake_env(tmp_path: Path, mode: str) -> dict[str, str]:
    return {"FAKE_MODE": mode, "FAKE_ARGV_LOG": str(tmp_path / "argv.jsonl")}


def argv_log(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "argv.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def supervise(adapter: AgentAdapter, request: AgentRequest, **limits: Any) -> tuple[Supervised, AgentOutcome]:
    invocation = adapter.invocation(request)
    run = partial(
        process.supervise, invocation.argv, cwd=request.worktree, env=invocation.env,
        log_path=request.artifacts / "agent.log", timeout_s=limits.get("timeout_s", 60),
        inactivity_s=limits.get("inactivity_s"), grace_s=0.5,
    )
    supervised = anyio.run(run)
    return supervised, adapter.outcome(request, supervised)


def option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def hand_made(stdout: str = "", stderr: str = "", returncode: int | None = 0, **kw: Any) -> Supervised:
    return Supervised(returncode=returncode, duration_s=1.0, pid=1, stdout_tail=stdout.encode(),
                      stderr_tail=stderr.encode(), **kw)


# --- invocation -------------------------------------------------------------------------------


def test_adapters_are_registered() -> None:
    assert isinstance(get_adapter("claude"), ClaudeAdapter)
    assert isinstance(get_adapter("codex"), CodexAdapter)
    assert isinstance(get_adapter("gemini"), GeminiAdapter)


def test_claude_first_round_argv_and_hardened_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/somewhere/.git")
    monkeypatch.setenv("GIT_INDEX_FILE", "/somewhere/index")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("UNRELATED_SECRET", "nope")
    monkeypatch.setenv("MY_TOKEN", "named")
    request = make_request(
        tmp_path, "claude", model="claude-opus-4-1", max_turns=12, budget_usd=2.5, task_budget=1.25,
        extra_args=["--verbose"], env=["MY_TOKEN", "GIT_DIR"],
    )
    invocation = ClaudeAdapter().invocation(request)
    argv, env = invocation.argv, invocation.env
    assert argv[:3] == ["claude", "-p", "Add a greeting"]
    assert option(argv, "--output-format") == "json"
    assert option(argv, "--permission-mode") == "acceptEdits"
    assert option(argv, "--max-turns") == "12"
    assert option(argv, "--max-budget-usd") == "1.25"  # the tighter of task and agent budgets
    uuid.UUID(option(argv, "--session-id"))
    assert "--resume" not in argv
    assert option(argv, "--model") == "claude-opus-4-1"
    assert argv[-1] == "--verbose"
    system = option(argv, "--append-system-prompt")
    assert "$LAUNCHER_CONTRACT" in system and str(request.contract_path) in system
    assert option(argv, "--add-dir") == str(request.contract_path.parent)
    schema = json.loads(option(argv, "--json-schema"))
    assert schema["required"] == list(REQUIRED_KEYS)
    assert json.loads((request.artifacts / "contract.schema.json").read_text()) == schema
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert 0 < int(env["CLAUDE_CODE_MAX_RETRIES"]) <= 3
    assert "IS_SANDBOX" not in env
    assert env["ANTHROPIC_API_KEY"] == "sk-test" and env["MY_TOKEN"] == "named"
    assert "UNRELATED_SECRET" not in env
    assert not [k for k in env if k.startswith("GIT_")]
    assert env["LAUNCHER_CONTRACT"] == str(request.contract_path)
    assert env["LAUNCHER_TASK_ID"] == "t1"


def test_claude_revision_round_resumes_the_session(tmp_path: Path) -> None:
    feedback = json.dumps({"ok": False, "error_key": "missing_key:llm_observations"})
    request = make_request(tmp_path, "claude", iteration=2, session_id="5f0c8f9e-aaaa-4bbb-8ccc-0123456789ab",
                           feedback=feedback)
    argv = ClaudeAdapter().invocation(request).argv
    assert option(argv, "--resume") == "5f0c8f9e-aaaa-4bbb-8ccc-0123456789ab"
    assert "--session-id" not in argv
    prompt = option(argv, "-p")
    assert "missing_key:llm_observations" in prompt and str(request.feedback_path) in prompt
    assert "Add a greeting" not in prompt  # the resumed session already holds the task


def test_claude_bypass_permissions_sets_is_sandbox_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("IS_SANDBOX", "1")  # never inherited from the parent
    plain = ClaudeAdapter().invocation(make_request(tmp_path, "claude"))
    assert "IS_SANDBOX" not in plain.env
    asked = ClaudeAdapter().invocation(make_request(tmp_path, "claude", permission_mode="bypassPermissions"))
    assert asked.env["IS_SANDBOX"] == "1"
    assert option(asked.argv, "--permission-mode") == "bypassPermissions"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    user = ClaudeAdapter().invocation(make_request(tmp_path, "claude", permission_mode="bypassPermissions"))
    assert "IS_SANDBOX" not in user.env


def test_the_agent_config_overrides_hardening_defaults_and_the_binary(tmp_path: Path) -> None:
    request = make_request(tmp_path, "claude", set_env={"CLAUDE_CODE_MAX_RETRIES": "5"},
                           command=["/opt/claude/bin/claude"])
    invocation = ClaudeAdapter().invocation(request)
    assert invocation.env["CLAUDE_CODE_MAX_RETRIES"] == "5"
    assert invocation.argv[0] == "/opt/claude/bin/claude"


def test_a_prompt_starting_with_a_dash_is_never_read_as_a_flag(tmp_path: Path) -> None:
    assert positional("--delete-everything") == " --delete-everything"
    argv = ClaudeAdapter().invocation(make_request(tmp_path, "claude", prompt="-x fix it")).argv
    assert option(argv, "-p") == " -x fix it"


def test_codex_first_round_argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("GIT_DIR", "/x/.git")
    request = make_request(tmp_path, "codex", model="gpt-5-codex", extra_args=["-c", "model_reasoning_effort=low"])
    invocation = CodexAdapter().invocation(request)
    argv = invocation.argv
    assert argv[:3] == ["codex", "exec", "--json"]
    assert option(argv, "--sandbox") == "workspace-write"
    assert option(argv, "-C") == str(request.worktree)
    assert "--skip-git-repo-check" in argv
    schema_path = Path(option(argv, "--output-schema"))
    schema = json.loads(schema_path.read_text())
    assert schema["additionalProperties"] is False and schema["required"] == list(REQUIRED_KEYS)
    assert option(argv, "-o") == str(request.artifacts / "codex-last-message.txt")
    assert option(argv, "-m") == "gpt-5-codex"
    assert "resume" not in argv
    assert argv[-1].startswith("Add a greeting") and "final message must be exactly that JSON object" in argv[-1]
    assert invocation.env["OPENAI_API_KEY"] == "sk-openai"
    assert not [k for k in invocation.env if k.startswith("GIT_")]


def test_codex_revision_round_uses_exec_resume_with_options_first(tmp_path: Path) -> None:
    request = make_request(tmp_path, "codex", iteration=2, session_id="0199a213-81c0-7800-8aa1-bbab2a035a53",
                           feedback='{"required_fixes": ["add a test"]}')
    argv = CodexAdapter().invocation(request).argv
    at = argv.index("resume")
    assert argv[at + 1] == "0199a213-81c0-7800-8aa1-bbab2a035a53"
    # after `resume` only what `exec resume` reads: the sandbox as a config override, then the prompt
    assert argv[at + 2:] == ["-c", 'sandbox_mode="workspace-write"', argv[-1]] and "add a test" in argv[-1]
    for flag in ("--sandbox", "-C", "--output-schema", "-o", "--json"):
        assert argv.index(flag) < at


def test_gemini_argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "g-key")
    request = make_request(tmp_path, "gemini", model="gemini-2.5-pro")
    invocation = GeminiAdapter().invocation(request)
    argv = invocation.argv
    assert argv[:2] == ["gemini", "-p"] and argv[2].startswith("Add a greeting")
    assert option(argv, "-o") == "json"
    assert option(argv, "--approval-mode") == "yolo"
    assert "--skip-trust" in argv
    assert option(argv, "-m") == "gemini-2.5-pro"
    assert invocation.env["GEMINI_API_KEY"] == "g-key"
    assert invocation.env["NO_BROWSER"] == "true"


def test_contract_schema_is_generated_from_the_contract_model() -> None:
    strict = contract_schema("api-login", strict=True)
    assert strict["additionalProperties"] is False
    assert strict["required"] == list(REQUIRED_KEYS) == list(strict["properties"])
    assert strict["properties"]["task_id"]["enum"] == ["api-login"]
    assert strict["properties"]["contract_version"]["enum"] == ["1"]
    assert strict["properties"]["files_changed"] == {**strict["properties"]["files_changed"],
                                                     "type": "array", "items": {"type": "string"}}
    forbidden = {"const", "default", "minLength", "title"}
    assert not [k for prop in strict["properties"].values() for k in prop if k in forbidden]
    loose = contract_schema("api-login", strict=False)
    assert loose["additionalProperties"] is True
    assert loose["properties"]["llm_observations"]["minLength"] == 1


# --- outcome, through the fakes ---------------------------------------------------------------


def test_claude_success_gives_structured_output_cost_tokens_and_session(tmp_path: Path) -> None:
    request = make_request(tmp_path, "claude", set_env=fake_env(tmp_path, "success"))
    supervised, outcome = supervise(ClaudeAdapter(), request)
    assert supervised.returncode == 0
    assert outcome.ok and outcome.error_kind is None
    check_contract(outcome.structured_output, "t1")
    assert outcome.cost_usd == pytest.approx(0.0421)
    assert outcome.tokens and outcome.tokens["input_tokens"] == 14 and outcome.tokens["output_tokens"] == 612
    argv = argv_log(tmp_path)[0]["argv"]
    assert outcome.session_id == option(argv, "--session-id")
    assert (request.worktree / "claude_t1.txt").exists()


@pytest.mark.parametrize(
    ("mode", "kind", "message"),
    [
        ("api_error", "api_error", "Invalid API key · Fix external API key"),
        ("max_turns", "max_turns", "Reached maximum number of turns (3)"),
        ("budget", "budget_exceeded", "Reached maximum budget ($0.5)"),
        ("permission_denied", "permission_denied", "Write /etc/launcher-fake.conf"),
        ("no_structured_output", "no_structured_output", "no structured_output"),
    ],
)
def test_claude_failures_map_to_error_kinds_with_the_cli_message(
    tmp_path: Path, mode: str, kind: str, message: str
) -> None:
    request = make_request(tmp_path, "claude", max_turns=3, budget_usd=0.5, set_env=fake_env(tmp_path, mode))
    supervised, outcome = supervise(ClaudeAdapter(), request)
    assert not outcome.ok
    assert outcome.error_kind == kind
    assert message in outcome.message
    assert outcome.session_id == option(argv_log(tmp_path)[0]["argv"], "--session-id")
    if mode == "max_turns":
        assert supervised.returncode == 1 and outcome.cost_usd == pytest.approx(1.4020935)


def test_claude_non_json_failure_is_a_crash_with_stderr() -> None:
    outcome = ClaudeAdapter().outcome(
        _bare_request(), hand_made(stderr="error: unknown option '--bogus'\n", returncode=1)
    )
    assert outcome.error_kind == "crashed" and "unknown option '--bogus'" in outcome.message


def test_timeouts_and_stalls_override_the_output() -> None:
    timed = hand_made(stdout='{"type":"result","subtype":"success","is_error":false}', returncode=-15,
                      timed_out=True)
    assert ClaudeAdapter().outcome(_bare_request(), timed).error_kind == "timeout"
    stalled = hand_made(stdout="Do you trust the files in this folder?\n\n❯ 1. Yes, proceed\n",
                        returncode=-15, stalled=True)
    outcome = GeminiAdapter().outcome(_bare_request(), stalled)
    assert outcome.error_kind == "stalled"
    assert "Do you trust the files in this folder?" in outcome.message
    assert detect_prompt("Allow command? (y/n)") is not None
    assert detect_prompt("all done, 3 files changed") is None


def test_codex_success_reads_thread_usage_and_the_final_message(tmp_path: Path) -> None:
    request = make_request(tmp_path, "codex", set_env=fake_env(tmp_path, "success"))
    supervised, outcome = supervise(CodexAdapter(), request)
    assert supervised.returncode == 0, supervised.stderr
    assert outcome.ok, outcome.message
    check_contract(outcome.structured_output, "t1")
    assert outcome.tokens == {"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122}
    assert outcome.cost_usd is None
    first_line = json.loads(supervised.stdout.splitlines()[0])
    assert outcome.session_id == first_line["thread_id"]
    assert outcome.extra["files_reported"] == [str(request.worktree / "codex_t1.txt")]


def test_codex_turn_failed_is_an_api_error_with_its_message(tmp_path: Path) -> None:
    request = make_request(tmp_path, "codex", set_env=fake_env(tmp_path, "turn_failed"))
    supervised, outcome = supervise(CodexAdapter(), request)
    assert supervised.returncode == 1
    assert outcome.error_kind == "api_error"
    assert outcome.message == ("unexpected status 401 Unauthorized: Missing bearer or basic authentication in header; "
                               "run `codex login` on this machine, or name CODEX_API_KEY (an OpenAI API key) in "
                               "env = [...] of [agents.codex]")
    assert outcome.session_id


def test_codex_prose_instead_of_the_schema_is_no_structured_output(tmp_path: Path) -> None:
    request = make_request(tmp_path, "codex", set_env=fake_env(tmp_path, "not_json"))
    _, outcome = supervise(CodexAdapter(), request)
    assert outcome.error_kind == "no_structured_output"
    assert "I created codex_t1.txt" in outcome.message


def test_codex_resume_argv_is_accepted_by_the_cli(tmp_path: Path) -> None:
    thread = "0199a213-81c0-7800-8aa1-bbab2a035a53"
    request = make_request(tmp_path, "codex", iteration=2, session_id=thread, feedback='{"fix": "x"}',
                           set_env=fake_env(tmp_path, "success"))
    supervised, outcome = supervise(CodexAdapter(), request)
    assert supervised.returncode == 0, supervised.stderr  # the fake refuses exec options after `resume`
    assert outcome.ok and outcome.session_id == thread


def test_gemini_success_and_its_error_object(tmp_path: Path) -> None:
    ok_request = make_request(tmp_path, "gemini", set_env=fake_env(tmp_path, "success"))
    _, outcome = supervise(GeminiAdapter(), ok_request)
    assert outcome.ok, outcome.message
    assert '"task_id": "t1"' in outcome.final_text
    assert outcome.session_id and outcome.tokens and outcome.tokens["input_tokens"] == 18843
    bad_request = make_request(tmp_path, "gemini", set_env=fake_env(tmp_path, "api_error"))
    supervised, outcome = supervise(GeminiAdapter(), bad_request)
    assert supervised.returncode == 1
    assert outcome.error_kind == "api_error"
    assert outcome.message.startswith("[API Error: You have exhausted your capacity on this model.")
    limit_request = make_request(tmp_path, "gemini", set_env=fake_env(tmp_path, "turn_limit"))
    supervised, outcome = supervise(GeminiAdapter(), limit_request)
    assert supervised.returncode == 53 and outcome.error_kind == "max_turns"
    assert "Reached max session turns" in outcome.message


def test_gemini_failure_without_an_error_object_is_a_crash() -> None:
    outcome = GeminiAdapter().outcome(_bare_request(), hand_made(stderr="Segmentation fault\n", returncode=139))
    assert outcome.error_kind == "crashed" and "Segmentation fault" in outcome.message


def _bare_request() -> AgentRequest:
    base = Path("/nonexistent-launcher-test")
    return AgentRequest(
        run_id="r", task=Task(id="t1"), agent_name="x", config=AgentConfig(), worktree=base,
        artifacts=base, base_sha="0" * 40, iteration=1, contract_path=base / "c.json",
        feedback_path=None, port_base=20000,
    )


# --- end to end: a real run with the fake first on PATH ---------------------------------------


def run_with(
    repo: Path, agents: dict[str, dict[str, Any]], tasks: list[dict[str, Any]], **run: Any
) -> RunReport:
    plan = validate_plan({"run": run, "agents": agents, "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)


def task_of(report: RunReport, task_id: str) -> TaskReport:
    return next(t for t in report.tasks if t.id == task_id)


def facts(repo: Path, report: RunReport, task_id: str) -> dict[str, Any]:
    path = repo / ".launcher" / "runs" / report.run_id / task_id / "facts.json"
    return dict(json.loads(path.read_text()))


@pytest.mark.parametrize(
    ("adapter", "mode", "state", "message"),
    [
        ("claude", "success", "merged", None),
        ("claude", "api_error", "failed", "agent api_error: Invalid API key · Fix external API key"),
        ("claude", "max_turns", "failed", "agent max_turns: Reached maximum number of turns (3)"),
        ("claude", "permission_denied", "failed", "agent permission_denied: claude was denied 1 tool use(s)"),
        ("claude", "no_structured_output", "failed",
         "agent no_structured_output: claude returned no structured_output"),
        ("codex", "success", "merged", None),
        ("codex", "turn_failed", "failed", "agent api_error: unexpected status 401 Unauthorized"),
        ("gemini", "success", "merged", None),
        ("gemini", "api_error", "failed", "agent api_error: [API Error: You have exhausted your capacity"),
    ],
)
def test_end_to_end_task_state(
    repo: Path, tmp_path: Path, adapter: str, mode: str, state: str, message: str | None
) -> None:
    agents = {"bot": {"adapter": adapter, "max_turns": 3, "set_env": fake_env(tmp_path, mode)}}
    report = run_with(repo, agents, [{"id": "t1", "agent": "bot", "prompt": "Add a greeting"}])
    task = task_of(report, "t1")
    assert task.state == state, task.message
    if message:
        assert message in task.message
    else:
        assert (repo / f"{adapter}_t1.txt").exists()  # the agent's edit landed on main
    recorded = facts(repo, report, "t1")
    if not (adapter == "gemini" and state == "failed"):  # gemini's error object carries no session
        assert recorded["session_id"]
    if state == "merged":
        origin = {"claude": "structured_output", "codex": "structured_output", "gemini": "final_message"}
        assert recorded["contract_origin"] == origin[adapter]
        assert recorded["contract_origin"] != "derived"
    if adapter == "claude" and mode == "success":
        assert recorded["cost_usd"] == pytest.approx(0.0421) and task.cost_usd == pytest.approx(0.0421)
    for call in argv_log(tmp_path):
        assert not [k for k in call["env"] if k.startswith("GIT_")]


def test_a_corrective_round_resumes_the_claude_session(repo: Path, tmp_path: Path) -> None:
    agents = {"bot": {"adapter": "claude", "set_env": fake_env(tmp_path, "no_structured_output,success")}}
    report = run_with(repo, agents, [{"id": "t1", "agent": "bot", "prompt": "Add a greeting"}])
    assert task_of(report, "t1").state == "merged"
    first, second = argv_log(tmp_path)
    session = option(first["argv"], "--session-id")
    assert option(second["argv"], "--resume") == session
    assert "--session-id" not in second["argv"]
    assert second["env"]["LAUNCHER_ATTEMPT"] == "2"
    assert "needs fixes" in option(second["argv"], "-p")


def test_three_different_adapters_in_parallel_all_land(repo: Path, tmp_path: Path) -> None:
    env = fake_env(tmp_path, "success")
    agents = {name: {"adapter": name, "set_env": env} for name in ("claude", "codex", "gemini")}
    tasks = [{"id": f"{name}-task", "agent": name, "prompt": f"work for {name}"} for name in agents]
    report = run_with(repo, agents, tasks)
    assert [t.state for t in report.tasks] == ["merged", "merged", "merged"], [t.message for t in report.tasks]
    for name in agents:
        assert (repo / f"{name}_{name}-task.txt").exists()
    assert sorted(call["cli"] for call in argv_log(tmp_path)) == ["claude", "codex", "gemini"]


def test_a_missing_cli_stops_the_run_before_it_starts(repo: Path, tmp_path: Path) -> None:
    # Preflight (issue 13): exit 3 with the install hint, before any worktree or branch exists.
    agents = {"bot": {"adapter": "codex", "command": [str(tmp_path / "no-such-codex")]}}
    with pytest.raises(EnvironmentProblem) as raised:
        run_with(repo, agents, [{"id": "t1", "agent": "bot", "prompt": "x"}])
    assert "no-such-codex does not exist" in raised.value.message
    assert "npm install -g @openai/codex" in raised.value.message


def test_an_agent_stalled_on_a_trust_prompt_is_killed_naming_the_prompt(repo: Path, tmp_path: Path) -> None:
    agents = {"bot": {"adapter": "claude", "inactivity_timeout_s": 1.0,
                      "set_env": fake_env(tmp_path, "trust_prompt")}}
    report = run_with(repo, agents, [{"id": "t1", "agent": "bot", "prompt": "x"}])
    task = task_of(report, "t1")
    assert task.state == "timed_out"
    assert "agent stalled" in task.message and "Do you trust the files in this folder?" in task.message


def test_run_budget_stops_new_tasks_once_reported_spend_reaches_it(repo: Path, tmp_path: Path) -> None:
    agents = {"claude": {"adapter": "claude", "set_env": fake_env(tmp_path, "success")}}
    tasks = [{"id": f"t{n}", "agent": "claude", "prompt": f"work {n}"} for n in range(3)]
    report = run_with(repo, agents, tasks, max_parallel=1, budget_usd=0.04)
    states = {t.id: t.state for t in report.tasks}
    assert states["t0"] == "merged"
    assert task_of(report, "t0").cost_usd == pytest.approx(0.0421)
    for skipped in ("t1", "t2"):
        assert states[skipped] == "skipped"
        assert "run budget $0.04 reached" in task_of(report, skipped).message
    assert len(argv_log(tmp_path)) == 1  # the CLI was never started for the others


def test_a_cli_waiting_at_a_trust_prompt_ends_at_its_timeout_naming_the_prompt(repo: Path, tmp_path: Path) -> None:
    # No inactivity timeout: the prompt alone never ends an agent, its wall-clock timeout does.
    agents = {"bot": {"adapter": "claude", "timeout_s": 3, "set_env": fake_env(tmp_path, "trust_prompt")}}
    report = run_with(repo, agents, [{"id": "t1", "agent": "bot", "prompt": "x"}])
    task = task_of(report, "t1")
    assert task.state == "timed_out"
    assert "(wall-clock timeout); its last output was an interactive prompt: 'Do you trust the files" in (
        task.message
    )
