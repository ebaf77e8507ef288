"""Claude Code with verbose on prints `--output-format json` as an array of its messages.

With `--verbose` in `extra_args` (or `"verbose": true` in the user's ~/.claude/settings.json,
which the launcher cannot see since HOME is passed through) the real CLI prints ONE JSON array:
its `system`/`init` message, the turns' messages, and the `result` object last. The task's state,
message and cost are read from that `result` exactly as from the plain object. The fake claude in
tests/fakes prints that array whenever it is given `--verbose`.
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


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def run_verbose_claude(repo: Path, mode: str, **config: Any) -> TaskReport:
    agents = {"cc": {"adapter": "claude", "extra_args": ["--verbose"], "set_env": {"FAKE_MODE": mode}, **config}}
    plan = validate_plan({"agents": agents, "task": [{"id": "t1", "agent": "cc", "prompt": "p"}]}, "test plan")
    report: RunReport = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)
    return report.tasks[0]


def test_a_successful_verbose_claude_lands_its_work_and_its_cost_is_counted(repo: Path) -> None:
    task = run_verbose_claude(repo, "success")
    assert (task.state, task.message) == ("merged", "landed on main")
    assert task.cost_usd == pytest.approx(0.0421)
    assert (repo / "claude_t1.txt").exists()


def test_a_verbose_claude_that_hit_its_turn_limit_fails_with_that_reason_and_its_cost(repo: Path) -> None:
    task = run_verbose_claude(repo, "max_turns", max_turns=3)
    assert task.state == "failed"
    assert task.message.startswith("agent max_turns: Reached maximum number of turns (3)")
    assert task.cost_usd == pytest.approx(1.4020935)


def test_a_verbose_claude_api_error_is_an_api_error_with_the_apis_message(repo: Path) -> None:
    task = run_verbose_claude(repo, "api_error")
    assert task.state == "failed"
    assert task.message.startswith("agent api_error: Invalid API key")
