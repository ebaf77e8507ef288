"""`launcher gate grade-record --criteria` that is malformed is the caller's mistake: exit 2 with the
usage envelope (`usage:criteria`), whatever the verdict; it exited 1, "the verdict is invalid", so a
pipeline gating on grade-record failed the grader's valid work for the operator's typo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import launcher_cli

VALID = {"verdict": "satisfied", "required_fixes": [], "iteration": 1, "rubric_version": "1",
         "criterion_results": [{"criterion": "C1", "pass": True, "justification": "j"}]}


@pytest.mark.parametrize("criteria", ["C1,,C2", "C1,C1", ","])
def test_malformed_criteria_is_a_usage_error_not_an_invalid_verdict(repo: Path, criteria: str) -> None:
    answer = repo / "verdict.json"
    answer.write_text(json.dumps(VALID))
    assert launcher_cli(repo, "gate", "grade-record", "--file", str(answer), "--criteria", "C1").returncode == 0

    done = launcher_cli(repo, "gate", "grade-record", "--file", str(answer), "--criteria", criteria)

    assert done.returncode == 2, done.stdout + done.stderr
    envelope = json.loads(done.stdout)
    assert envelope["ok"] is False and envelope["error_key"] == "usage:criteria"
    assert "--criteria C1,C2,C3" in envelope["usage"]
