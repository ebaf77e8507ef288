"""aider retries a transient provider error itself: only an error it did not recover from fails.

aider prints a retryable error (rate limit, overload, connection, timeout), its description and
"Retrying in N seconds...", then carries on; it exits 0 whether it recovered or gave up. The run
reports what happened in the end: an error printed after the model's last answer (its `Tokens:`
usage line) fails the task as `api_error`; one the model answered after, and error text the
model merely quotes in its reply, do not. The fake aider prints aider 0.86's own texts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport, TaskReport

FAKES = Path(__file__).parent / "fakes"
RATE_LIMITED = (
    "litellm.RateLimitError: AnthropicException - This request would exceed the rate limit for your "
    "organization of 30,000 input tokens per minute."
)


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def run_aider(repo: Path, mode: str, **fake_env: str) -> TaskReport:
    agents: dict[str, dict[str, Any]] = {
        "ai": {"adapter": "aider", "model": "anthropic/claude-sonnet-4-20250514",
               "set_env": {"FAKE_MODE": mode, **fake_env}},
    }  # fmt: skip
    plan = validate_plan({"agents": agents, "task": [{"id": "t1", "agent": "ai", "prompt": "p"}]}, "test plan")
    report: RunReport = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)
    return report.tasks[0]


def test_a_rate_limit_aider_retried_and_recovered_from_does_not_fail_the_task(repo: Path) -> None:
    task = run_aider(repo, "retried_rate_limit")
    assert (task.state, task.message) == ("merged", "landed on main")
    assert task.cost_usd == pytest.approx(0.0093)
    assert "def mul" in (repo / "app.py").read_text()


def test_a_rate_limit_aider_gave_up_on_fails_the_task_as_an_api_error(repo: Path) -> None:
    task = run_aider(repo, "rate_limit")
    assert task.state == "failed"
    assert task.message.startswith(f"agent api_error: aider: {RATE_LIMITED}")
    assert "The API provider has rate limited you." in task.message


def test_error_text_the_model_quotes_in_its_reply_is_not_an_error(repo: Path) -> None:
    quoted = f"The client now retries on this error:\n```\n{RATE_LIMITED}\n```\n    except litellm.RateLimitError:"
    task = run_aider(repo, "success", FAKE_REPLY_EXTRA=quoted)
    assert (task.state, task.message) == ("merged", "landed on main")
