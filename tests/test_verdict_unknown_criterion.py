"""A grader verdict answers the criteria of the applied rubrics, and no other (DESIGN 7.3).

A verdict missing one is `criterion_missing:<ID>`; one that scores a criterion the applied
rubrics do not have (a typo, a criterion of another rubric, one it made up) is
`criterion_unknown:<ID>`: invalid like any other, so the grader gets its corrective re-spawn, and
never taken for a verdict on the task. `launcher gate grade-record --criteria C1,C2,...` says the
same of the same answer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import git, launcher_cli

from launcher.models.verdict import VerdictInvalid, validate_verdict_text

# Attempt 1: "satisfied", every criterion of the packet passing, plus C99, which no rubric has.
# Attempt 2: needs_revision on the first criterion.
GRADER = r"""
import json, os, re, sys
packet = open(sys.argv[1]).read()
ids = re.findall(r"^### ([A-Za-z][A-Za-z0-9_-]*)\. ", packet, re.M)
here = os.path.dirname(os.path.abspath(__file__))
json.dump(ids, open(os.path.join(here, "ids.json"), "w"))
first = os.environ["LAUNCHER_ATTEMPT"] == "1"
results = [{"criterion": c, "pass": first or c != ids[0], "justification": "looked"} for c in ids]
if first:
    results.append({"criterion": "C99", "pass": True, "justification": "a criterion of my own"})
answer = {"verdict": "satisfied" if first else "needs_revision", "criterion_results": results,
          "required_fixes": [] if first else ["fix it (%s)" % ids[0]], "iteration": 1,
          "rubric_version": "default@1"}
text = json.dumps(answer)
if first:
    open(os.path.join(here, "answer-1.json"), "w").write(text)  # for the validator
print(text)
"""


def _run(repo: Path, tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "grader.py").write_text(GRADER)
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[run]\ngrader = "g"\niteration_cap = 1\n'
        f'[agents.g]\nadapter = "command"\ncommand = [{json.dumps(sys.executable)}, '
        f'{json.dumps(str(tmp_path / "grader.py"))}, "{{packet}}"]\n'
        '[[task]]\nid = "t1"\nscript = [{write = "notes.md", content = "n\\n"}]\n'
    )
    done = launcher_cli(repo, "run", str(plan), "--json", timeout=180)
    assert done.stdout.strip(), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_a_verdict_scoring_a_criterion_no_applied_rubric_has_is_invalid_and_the_grader_answers_again(
    repo: Path, tmp_path: Path
) -> None:
    report = _run(repo, tmp_path)
    (t1,) = report["tasks"]
    # The "satisfied" answer was refused; the corrective attempt's needs_revision is the verdict.
    assert [r["verdict"] for r in t1["rounds"]] == ["needs_revision"], t1
    assert t1["state"] == "escalated" and not t1["merged"], t1
    assert "notes.md" not in git(repo, "ls-tree", "--name-only", "main")
    assert "grader attempt 1: criterion_unknown:C99" in [n["message"] for n in report["notes"]]
    grading = repo / ".launcher" / "runs" / report["run_id"] / "t1" / "grading"
    hint = json.loads((grading / "1-hint-1.json").read_text())
    ids = json.loads((tmp_path / "ids.json").read_text())
    assert hint["error_key"] == "criterion_unknown:C99"
    assert "C99" in hint["observations"] and "not in the applied rubrics" in hint["observations"]
    assert ", ".join(ids) in hint["usage"]
    # The standalone gate, told the applied rubrics' criteria, refuses the same answer the same way.
    answer = str(tmp_path / "answer-1.json")
    gate = launcher_cli(repo, "gate", "grade-record", "--file", answer, "--criteria", ",".join(ids))
    assert gate.returncode == 1, gate.stdout
    assert json.loads(gate.stdout)["error_key"] == "criterion_unknown:C99"
    # Without them it knows no rubric: the seed's checks only, as before.
    assert launcher_cli(repo, "gate", "grade-record", "--file", answer).returncode == 0


def test_grade_record_with_criteria_also_reports_a_missing_one(repo: Path, tmp_path: Path) -> None:
    answer = tmp_path / "verdict.json"
    answer.write_text(
        json.dumps(
            {
                "verdict": "needs_revision",
                "required_fixes": ["x (C1)"],
                "iteration": 1,
                "rubric_version": "v",
                "criterion_results": [{"criterion": "C1", "pass": False, "justification": "no"}],
            }
        )
    )
    gate = launcher_cli(repo, "gate", "grade-record", "--file", str(answer), "--criteria", "C1, C2")
    assert gate.returncode == 1 and json.loads(gate.stdout)["error_key"] == "criterion_missing:C2"
    bad = launcher_cli(repo, "gate", "grade-record", "--file", str(answer), "--criteria", "C1,,C1")
    envelope = json.loads(bad.stdout)
    assert bad.returncode == 2 and envelope["error_key"] == "usage:criteria", envelope  # the caller's mistake
    assert "--criteria C1,C2,C3" in envelope["usage"]


@pytest.mark.parametrize(
    ("answered", "key"),
    [
        (["C1", "C2", "c2"], "criterion_unknown:c2"),
        (["C1", "C2", "B7"], "criterion_unknown:B7"),
        (["C1", "B7"], "criterion_missing:C2"),  # what is missing is said first
        (["C1", "C2", "bad id\n"], 'criterion_unknown:"bad id\\n"'),
    ],
)
def test_the_unknown_criterion_is_named_in_the_key(answered: list[str], key: str) -> None:
    text = json.dumps(
        {
            "verdict": "satisfied",
            "required_fixes": [],
            "iteration": 1,
            "rubric_version": "v",
            "criterion_results": [{"criterion": c, "pass": True, "justification": "ok"} for c in answered],
        }
    )
    with pytest.raises(VerdictInvalid) as info:
        validate_verdict_text(text, expected_criteria=["C1", "C2"])
    assert info.value.error_key == key
    assert validate_verdict_text(text).verdict == "satisfied"  # without the applied rubrics: valid
