"""The current agent CLIs' ways of failing without a key or a network are reported with their
cause and their fix, and a CLI that would wait forever does not hold its task to the wall clock.

Through real runs (a real repository, the launcher's engine) of the fakes in tests/fakes, which
reproduce what the current CLIs print: aider 0.86.2's OpenRouter browser login, codex-cli
0.171.0's endless "Reconnecting... waiting for network", opencode 1.18.33's `UnknownError` whose
cause is only in its log, and its silent retries of an API it cannot reach; Claude Code
2.1.197's "Not logged in · Please run /login".
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.agents import codex, opencode_log
from launcher.agents.acp import INSTALL_HINT
from launcher.agents.codex import CodexEvents
from launcher.app.agents_info import ACP_HINT
from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import TaskReport

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "AIDER_MODEL"):
        monkeypatch.delenv(key, raising=False)


def run_one(repo: Path, agent: dict[str, Any], **run: Any) -> tuple[TaskReport, float]:
    plan = validate_plan({"run": run, "agents": {"a": agent},
                          "task": [{"id": "t1", "agent": "a", "prompt": "Add a sub function"}]}, "test plan")
    start = time.monotonic()
    report = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)
    return report.tasks[0], time.monotonic() - start


def agent_log(repo: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in (repo / ".launcher").rglob("t1/agent.log"))


# --- aider ---------------------------------------------------------------------------------------


def test_aider_0_86_waiting_at_the_openrouter_login_ends_at_once_naming_the_missing_key(repo: Path) -> None:
    # aider 0.86.2 without a key or a model: "Please open this URL in your browser to connect
    # Aider with OpenRouter:", then "Waiting up to 5 minutes...". The task neither stalls nor
    # waits for its timeouts: the login cannot be done headless.
    task, took = run_one(repo, {"adapter": "aider", "set_env": {"FAKE_MODE": "oauth"}},
                         timeout_s=120, inactivity_timeout_s=60)
    assert task.state == "failed", task.message
    assert task.message.startswith("agent api_error: aider found no API key")
    assert "Please open this URL in your browser to connect Aider with OpenRouter" in task.message
    assert "ANTHROPIC_API_KEY" in task.message and "[agents.a]" in task.message
    assert took < 30


def test_aider_older_openrouter_login_wording_is_still_recognised(repo: Path) -> None:
    task, _ = run_one(repo, {"adapter": "aider", "set_env": {"FAKE_MODE": "oauth_old"}},
                      timeout_s=120, inactivity_timeout_s=60)
    assert task.state == "failed"
    assert task.message.startswith("agent api_error: aider found no API key")
    assert "OpenRouter" in task.message


# --- codex ---------------------------------------------------------------------------------------


def test_codex_reconnecting_without_end_fails_as_an_api_error_naming_the_network(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codex, "RECONNECT_SPAN_S", 2.0)  # 60 s in real use
    task, took = run_one(repo, {"adapter": "codex", "set_env": {"FAKE_MODE": "offline", "FAKE_RECONNECT_S": "0.2"}},
                         timeout_s=60)
    assert task.state == "failed", task.message
    assert task.message.startswith("agent api_error: codex cannot reach its API: Reconnecting... waiting for "
                                   "network (Connection failed: error sending request)")
    assert "check the network or proxy" in task.message
    assert took < 30


def test_codex_killed_by_its_timeout_while_reconnecting_names_the_network(repo: Path) -> None:
    task, _ = run_one(repo, {"adapter": "codex", "set_env": {"FAKE_MODE": "offline", "FAKE_RECONNECT_S": "0.5"}},
                      timeout_s=4)
    assert task.state == "timed_out"
    assert "wall-clock timeout" in task.message
    assert "codex cannot reach its API: Reconnecting... waiting for network" in task.message


def test_a_short_codex_outage_is_waited_out() -> None:
    seen = CodexEvents()
    for _ in range(codex.RECONNECTS_GIVE_UP):
        seen.line(json.dumps({"type": "error", "message": "Reconnecting... waiting for network (x)"}))
    assert seen.hopeless(time.monotonic() + codex.RECONNECT_SPAN_S)  # five, spanning a minute: hopeless
    assert not seen.hopeless(time.monotonic())  # five within a few seconds: waited out
    seen.line(json.dumps({"type": "item.completed", "item": {"type": "reasoning", "text": "back"}}))
    assert not seen.hopeless(time.monotonic() + 1000) and seen.network_trouble() is None
    assert seen.fatal is None  # a reconnect notice is never fatal by itself


# --- opencode ------------------------------------------------------------------------------------


def test_opencode_unknown_error_quotes_the_cause_from_its_log(repo: Path, tmp_path: Path) -> None:
    # opencode 1.18 without the provider's key: stdout has only "UnknownError: Unexpected server
    # error. Check server logs for details."; the cause is in its log, which it prints on stderr.
    argv_log = tmp_path / "argv.jsonl"
    task, _ = run_one(repo, {"adapter": "opencode", "model": "anthropic/claude-sonnet-4-5",
                             "set_env": {"FAKE_MODE": "nokey", "FAKE_ARGV_LOG": str(argv_log)}}, timeout_s=60)
    assert task.state == "failed"
    assert task.message.startswith("agent api_error: opencode UnknownError: Unexpected server error.")
    assert "ProviderModelNotFoundError: Model not found: anthropic/claude-sonnet-4-5" in task.message
    assert "`opencode models`" in task.message and "ANTHROPIC_API_KEY" in task.message
    argv = json.loads(argv_log.read_text().splitlines()[0])["argv"]
    assert argv[:6] == ["run", "--format", "json", "--print-logs", "--log-level", "ERROR"]


def test_opencode_retrying_an_unreachable_api_fails_as_an_api_error_naming_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(opencode_log, "CONNECT_SPAN_S", 2.0)  # 60 s in real use
    task, took = run_one(repo, {"adapter": "opencode", "set_env": {"FAKE_MODE": "offline", "FAKE_RETRY_S": "0.2"}},
                         timeout_s=60, inactivity_timeout_s=30)
    assert task.state == "failed", task.message
    assert task.message.startswith("agent api_error: opencode cannot reach its API: AI_APICallError: Cannot "
                                   "connect to API: Unable to connect.")
    assert took < 30
    assert "level=ERROR" in agent_log(repo)  # the cause is in agent.log too (`launcher logs`)


def test_opencode_stalled_while_offline_names_the_cause(repo: Path) -> None:
    task, _ = run_one(repo, {"adapter": "opencode", "set_env": {"FAKE_MODE": "offline", "FAKE_RETRY_S": "100"}},
                      timeout_s=60, inactivity_timeout_s=2)
    assert task.state == "timed_out"
    assert "inactivity timeout" in task.message
    assert "opencode cannot reach its API" in task.message and "Unable to connect" in task.message


# --- claude, acp ---------------------------------------------------------------------------------


def test_claude_not_logged_in_names_the_launchers_fix(repo: Path) -> None:
    task, _ = run_one(repo, {"adapter": "claude", "set_env": {"FAKE_MODE": "not_logged_in"}}, timeout_s=60)
    assert task.state == "failed"
    assert task.message.startswith("agent api_error: Not logged in · Please run /login; run `claude` once")
    assert "ANTHROPIC_API_KEY" in task.message and "[agents.a]" in task.message


def test_acp_hints_suggest_gemini_acp() -> None:
    for hint in (INSTALL_HINT, ACP_HINT):
        assert '["gemini", "--acp"]' in hint
