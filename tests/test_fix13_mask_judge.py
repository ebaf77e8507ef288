"""A mutation judge's answer is kept with the values it was passed masked.

A judge agent given JUDGE_TOKEN through its `env` that echoed it into a justification had it
written verbatim to the sweep's verdict.json (read by `mutation fix`, `label`, the report), and an
invalid answer quoting it went into the error `mutation judge` prints. Its answer is now masked
(`***(JUDGE_TOKEN)`) before it is validated and kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import judge_one_survivor

from launcher.gates import judge_relay
from launcher.models.plan import AgentConfig

TOKEN = "judge-tok-FAKE-55aa77"
MARK = "***(JUDGE_TOKEN)"


def run_judge(repo: Path, answer: str) -> judge_relay.JudgeOutcome:
    script = f"printf '%s' \"{answer}\" > \"$LAUNCHER_CONTRACT\""
    config = AgentConfig.model_validate({"adapter": "command", "command": ["sh", "-c", script],
                                         "env": ["JUDGE_TOKEN"]})

    return judge_one_survivor(repo, config)


def sweep_bytes(repo: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((repo.parent / "sweep").rglob("*"))
                    if p.is_file() and p.name != "agent.log")  # the judge's raw transcript


def test_a_judges_echoed_token_is_masked_in_the_verdict_it_keeps(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGE_TOKEN", TOKEN)
    answer = ('{\\"contract_version\\":\\"1\\",\\"verdicts\\":[{\\"id\\":1,\\"classification\\":\\"genuine\\",'
              '\\"confidence\\":0.9,\\"justification\\":\\"checked with $JUDGE_TOKEN\\"}]}')
    outcome = run_judge(repo, answer)
    assert outcome.verdict is not None, outcome.error
    assert outcome.verdict.verdicts[0].justification == f"checked with {MARK}"
    assert outcome.verdict_path is not None and MARK in outcome.verdict_path.read_text()
    assert TOKEN.encode() not in sweep_bytes(repo)


def test_an_invalid_answer_quoting_the_token_is_masked_in_the_error(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGE_TOKEN", TOKEN)
    answer = ('{\\"contract_version\\":\\"1\\",\\"verdicts\\":[{\\"id\\":1,\\"classification\\":\\"$JUDGE_TOKEN\\",'
              '\\"confidence\\":0.9,\\"justification\\":\\"j\\"}]}')
    outcome = run_judge(repo, answer)
    assert outcome.verdict is None and outcome.error is not None
    assert TOKEN not in outcome.error and TOKEN not in " ".join(outcome.notes)
    assert TOKEN.encode() not in sweep_bytes(repo)  # the hint files sent back to it, too
