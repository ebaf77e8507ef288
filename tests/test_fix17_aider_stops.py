"""aider's stop triggers are judged by where they stand relative to the run's end.

A good run whose reply quotes aider's own messages (a troubleshooting doc the model read, a test
fixture it edited) is not failed: text the model wrote comes before that reply's usage line. The
empty answer is the one trigger aider prints before its usage line (base_coder.py l.1974-1975),
so it counts only as the very last line before the last usage line, and only when that line says
the model sent back nothing (`0 received`). "No data found in LLM response!" is raised, printed and
returned on: it counts only after the last usage line, like the other triggers.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from launcher.agents.aider import read_output
from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport

FAKES = Path(__file__).parent / "fakes"
EMPTY = "Empty response received from LLM. Check your provider account?"
NO_DATA = "No data found in LLM response!"


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def run_aider(repo: Path, mode: str, **fake_env: str) -> tuple[str, str]:
    agents = {"ai": {"adapter": "aider", "model": "anthropic/claude-sonnet-4-20250514",
                     "set_env": {"FAKE_MODE": mode, **fake_env}}}
    plan = validate_plan({"agents": agents, "task": [{"id": "t1", "agent": "ai", "prompt": "p"}]}, "test plan")
    report: RunReport = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)
    return report.tasks[0].state, report.tasks[0].message or ""


@pytest.mark.parametrize("quoted", [EMPTY, "    " + EMPTY, NO_DATA])
def test_a_finished_run_whose_reply_quotes_an_aider_error_lands(repo: Path, quoted: str) -> None:
    extra = f"docs/troubleshooting.md lists aider's messages:\n{quoted}\nNothing there needed changing."
    assert run_aider(repo, "success", FAKE_REPLY_EXTRA=extra) == ("merged", "landed on main")


def test_a_real_empty_answer_still_fails_as_an_api_error(repo: Path) -> None:
    state, message = run_aider(repo, "empty")
    assert state == "failed"
    assert message.startswith(f"agent api_error: aider: {EMPTY}")


def test_a_reply_ending_with_the_quoted_line_is_not_an_empty_answer() -> None:
    """The model wrote tokens (`180 received`): the line was its reply, not aider's warning."""
    seen = read_output(f"Here is what aider says:\n{EMPTY}\n\nTokens: 2.4k sent, 180 received.\n")
    assert seen.stops.ended() is None


def test_an_empty_answer_followed_by_a_later_good_answer_does_not_count() -> None:
    seen = read_output(f"{EMPTY}\n\nTokens: 1k sent, 0 received.\nall done\n\nTokens: 2k sent, 90 received.\n")
    assert seen.stops.ended() is None


def test_no_data_found_after_the_last_usage_line_fails_as_an_api_error() -> None:
    seen = read_output(f"Tokens: 1k sent, 10 received.\nApplied edit to a.py\nTraceback ...\n{NO_DATA}\n")
    assert seen.stops.ended() == ("api_error", f"aider: {NO_DATA} (the provider sent an empty answer: "
                                               "check your account's credits)")


def test_no_data_found_quoted_before_a_usage_line_does_not_count() -> None:
    seen = read_output(f"I saw:\n{NO_DATA}\n\nTokens: 1k sent, 10 received.\nApplied edit to a.py\n")
    assert seen.stops.ended() is None
