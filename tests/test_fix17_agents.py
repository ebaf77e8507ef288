"""Agents' unfinished endings are failures, and a grader relay retries only what may succeed.

- opencode exits 0 whatever its last step's finish reason: a last step that ended "length" (the
  model hit its output limit mid-answer) or "content-filter" fails the round, with a kind that
  says so (`output_limit`, `content_filtered`); the fake prints the real `step_finish` event.
- The grader relay retries a crash, a stall, no structured answer and the model's own stochastic
  stops (`loop_detected`, `edit_failed`); what the same CLI, packet and configuration would end
  the same way again (a turn, context or output limit, a hook's or filter's stop) is not retried.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import anyio
import pytest
from test_mutation_judge import judge, pkg, swept, use_judge  # noqa: F401 (fixtures: the swept weak package)

from launcher import process
from launcher.agents.base import AgentOutcome, AgentRequest
from launcher.agents.opencode import OpencodeAdapter
from launcher.gates.relay import RETRIED_FAILURES
from launcher.models.plan import AgentConfig, Task

FAKES = Path(__file__).parent / "fakes"


def _opencode_round(tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> AgentOutcome:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    worktree, artifacts = tmp_path / "wt", tmp_path / "artifacts"
    worktree.mkdir()
    artifacts.mkdir()
    (worktree / "README.md").write_text("# sample\n")
    request = AgentRequest(
        run_id="r-20250101-000000-abcd", task=Task(id="t1", prompt="Add a mul function"), agent_name="opencode",
        config=AgentConfig.model_validate({"adapter": "opencode", "set_env": {"FAKE_MODE": mode}}), worktree=worktree,
        artifacts=artifacts, base_sha="0" * 40, iteration=1, contract_path=artifacts / "contract.agent.json",
        feedback_path=None, port_base=20000,
    )
    adapter = OpencodeAdapter()
    invocation = adapter.invocation(request)
    supervised = anyio.run(partial(process.supervise, invocation.argv, cwd=worktree, env=invocation.env,
                                   log_path=artifacts / "agent.log", timeout_s=60, inactivity_s=None, grace_s=0.5))
    assert supervised.returncode == 0  # opencode exits 0 all the same
    return adapter.outcome(request, supervised)


def test_opencode_cut_off_at_its_output_limit_fails_the_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = _opencode_round(tmp_path, "length", monkeypatch)

    assert not outcome.ok
    assert outcome.error_kind == "output_limit"
    assert "output token limit mid-answer" in outcome.message and "'length'" in outcome.message
    assert outcome.tokens is not None and outcome.cost_usd  # what it spent is still counted


def test_opencode_cut_off_by_a_content_filter_fails_the_round(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = _opencode_round(tmp_path, "content_filter", monkeypatch)

    assert not outcome.ok and outcome.error_kind == "content_filtered"


def test_opencode_that_finished_its_answer_succeeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _opencode_round(tmp_path, "success", monkeypatch).ok


@pytest.mark.parametrize(("kind", "retried"), [
    ("crashed", True), ("timeout", True), ("stalled", True), ("no_structured_output", True),
    ("loop_detected", True), ("edit_failed", True),  # the model's stochastic stops: a new sample may not
    ("max_turns", False), ("context_exceeded", False), ("output_limit", False),  # same packet, same limits
    ("stopped", False), ("content_filtered", False),  # a hook's or a filter's doing: the same again
    ("api_error", False), ("budget_exceeded", False), ("permission_denied", False),
])
def test_a_grader_relay_retries_only_a_failure_another_attempt_can_get_past(kind: str, retried: bool) -> None:
    assert (kind in RETRIED_FAILURES) is retried


def test_a_judge_that_hit_its_turn_limit_is_not_asked_again(pkg: Path,  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The same policy as a grader's: another attempt would hit the same limit, and be paid again.
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MODE", "turn_limit")
    use_judge(pkg, adapter="gemini", env=["FAKE_MODE"])

    summary = judge(pkg, confirm=True)

    assert summary.exit_code == 1
    assert summary.calls == 1  # one process, no corrective rounds
    assert summary.notes == ["judge batch 1 attempt 1: judge_max_turns (not retried)"]
    assert "judge_max_turns, not retried" in summary.message and "maxSessionTurns" in summary.message
