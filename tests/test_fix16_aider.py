"""aider exits 0 however its message ended: the run reports how it really ended.

aider 0.86 (Aider-AI/aider @5dc9490, aider/coders/base_coder.py) returns from `--message` with
exit code 0 when it gave up on an edit it could not apply or lint errors it could not fix ("Only 3
reflections allowed, stopping."), when the model hit its token limit ("Model M has hit a token
limit!"), and after a provider error of any kind. Such a round fails, names what aider said and
is never merged nor re-sent as it was; the cost aider prints on a line of its own (a reply that
both wrote and read the prompt cache) is read and counts against `--budget-usd`. The fake aider
(tests/fakes/aider) prints aider 0.86's own texts, and the launcher runs it as a real process in a
real repository.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.agents.aider import parse_usage, read_output
from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport, TaskReport

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def run_aider(repo: Path, mode: str, **fake_env: str) -> TaskReport:
    calls = repo.parent / "aider-calls.jsonl"
    agents: dict[str, dict[str, Any]] = {
        "ai": {"adapter": "aider", "model": "anthropic/claude-sonnet-4-20250514",
               "set_env": {"FAKE_MODE": mode, "FAKE_ARGV_LOG": str(calls), **fake_env}},
    }  # fmt: skip
    plan = validate_plan({"agents": agents, "task": [{"id": "t1", "agent": "ai", "prompt": "p"}]}, "test plan")
    report: RunReport = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)
    return report.tasks[0]


def aider_calls(repo: Path) -> int:
    calls = repo.parent / "aider-calls.jsonl"
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def on_main(repo: Path, path: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "show", f"main:{path}"], capture_output=True,
                          text=True, check=True).stdout


# --- an edit aider gave up on --------------------------------------------------------------------

def test_an_edit_block_aider_gave_up_on_fails_the_round_naming_it_and_nothing_lands(repo: Path) -> None:
    task = run_aider(repo, "reflections")
    assert task.state == "failed"
    assert task.message.startswith("agent edit_failed: aider gave up on its edit "
                                   "('Only 3 reflections allowed, stopping.')")
    assert "# 1 SEARCH/REPLACE block failed to match!" in task.message
    assert "failed to exactly match lines in README.md" in task.message
    assert "def mul" not in on_main(repo, "app.py")  # the half-done work is not merged
    assert aider_calls(repo) == 1  # no corrective round: the same prompt would fail the same way
    assert task.cost_usd == pytest.approx(0.0183)


def test_lint_errors_aider_could_not_fix_fail_the_round(repo: Path) -> None:
    task = run_aider(repo, "lint_gave_up")
    assert task.state == "failed" and task.message.startswith("agent edit_failed:")
    assert "app.py:9:16: F821 undefined name 'bb'" in task.message
    assert "Attempt to fix lint errors?" in task.message
    assert "bb" not in on_main(repo, "app.py")


# --- the model's token limit ----------------------------------------------------------------------

def test_a_token_limit_is_its_own_failure_with_aiders_counts_and_the_fix_and_is_not_resent(repo: Path) -> None:
    task = run_aider(repo, "token_limit")
    assert task.state == "failed"
    assert task.message.startswith(
        "agent context_exceeded: aider stopped: Model anthropic/claude-sonnet-4-20250514 has hit a token limit! "
        "Input tokens: ~212,345 of 200,000")
    assert "split the task into smaller ones" in task.message and "larger context window" in task.message
    assert aider_calls(repo) == 1


def test_work_whose_lint_fix_hit_the_token_limit_never_lands(repo: Path) -> None:
    task = run_aider(repo, "token_limit_fixing")
    assert task.state == "failed" and task.message.startswith("agent context_exceeded:")
    assert "bb" not in on_main(repo, "app.py")
    assert aider_calls(repo) == 1


def test_an_output_limit_says_to_ask_for_smaller_changes() -> None:
    seen = read_output(
        "Tokens: 9k sent, 64k received.\n\nModel m has hit a token limit!\n"
        "Input tokens: ~9,000 of 200,000\nOutput tokens: ~64,000 of 64,000 -- possibly exceeded output limit!\n"
    )
    ended = seen.stops.ended()
    assert ended is not None and ended[0] == "context_exceeded"
    assert "smaller changes" in ended[1] and "context window;" not in ended[1]


def test_a_token_limit_the_model_quotes_in_its_reply_is_not_one() -> None:
    seen = read_output("I saw this once:\nModel x has hit a token limit!\n\nTokens: 2k sent, 10 received.\n")
    assert seen.stops.ended() is None


# --- provider errors of any kind -----------------------------------------------------------------

@pytest.mark.parametrize("error", [
    "litellm.UnprocessableEntityError: OpenAIException - Error code: 422 - Your organization has been disabled.",
    "litellm.InvalidRequestError: invalid request: model_not_available",
    "litellm.OpenAIError: Error code: 402 - insufficient credits",
    "litellm.RouterRateLimitError: No deployments available for selected model",
])
def test_any_litellm_error_aider_printed_last_fails_as_an_api_error_in_its_words(repo: Path, error: str) -> None:
    task = run_aider(repo, "provider_error", FAKE_ERROR=error)
    assert (task.state, task.message) == ("failed", f"agent api_error: aider: {error}")
    assert aider_calls(repo) == 1


def test_an_empty_answer_fails_as_an_api_error(repo: Path) -> None:
    task = run_aider(repo, "empty")
    assert task.state == "failed"
    assert task.message.startswith("agent api_error: aider: Empty response received from LLM.")
    assert aider_calls(repo) == 1


# --- cost and tokens ------------------------------------------------------------------------------

def test_the_cost_on_its_own_line_is_read_and_the_cache_write_counted_once(repo: Path) -> None:
    task = run_aider(repo, "cached")
    assert (task.state, task.message) == ("merged", "landed on main")
    assert task.cost_usd == pytest.approx(0.115)
    tokens, cost = parse_usage(
        "Tokens: 12k sent, 3.1k cache write, 8.2k cache hit, 180 received.\n"
        "Cost: $0.0600 message, $0.0600 session.\n"
    )
    # aider's "sent" already holds the 3.1k cache write (base_coder.py l.2011-2012)
    assert tokens == {"input": 8900, "output": 180, "cache_read": 8200, "cache_write": 3100}
    assert cost == pytest.approx(0.06)


def test_the_cost_on_its_own_line_counts_against_the_runs_budget(repo: Path) -> None:
    agents = {"ai": {"adapter": "aider", "model": "anthropic/claude-sonnet-4-20250514",
                     "set_env": {"FAKE_MODE": "cached"}}}
    tasks = [{"id": "first", "agent": "ai", "prompt": "p"},
             {"id": "second", "agent": "ai", "prompt": "p", "depends_on": ["first"]}]
    plan = validate_plan({"agents": agents, "task": tasks}, "test plan")
    report: RunReport = anyio.run(start_run, repo, plan, RunOptions(merge=True, budget_usd=0.1), lambda _e: None)
    first, second = report.tasks
    assert first.cost_usd == pytest.approx(0.115)
    assert second.state == "skipped"
    assert second.message.startswith("not started: run budget $0.10 reached (reported spend $0.12)")


def test_a_cost_line_in_the_models_reply_is_not_aiders() -> None:
    _tokens, cost = parse_usage(
        "Tokens: 2k sent, 10 received. Cost: $0.01 message, $0.01 session.\n"
        "Applied edit to app.py\nCost: $9.00 message, $9.00 session.\n"
    )
    assert cost == pytest.approx(0.01)
