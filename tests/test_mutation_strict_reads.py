"""Files of the mutation flows that people or agents can write are read with the strict reader:
a key named twice, NaN or 1e999, a document nested too deep are refused with the file and line,
never read lossily (the last key silently winning) nor ending in an internal error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.app.mutation.calibration_default import own_label_counts
from launcher.app.mutation.fix import read_evidence
from launcher.errors import UsageProblem
from launcher.mutation.merge import load_run

BAD = {
    "duplicate": '{"mutants": [],\n "mutants": []}',
    "nan": '{"mutants": [], "score": NaN}',
    "deep": '{"mutants": ' + "[" * 100_000 + "]" * 100_000 + "}",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_sweeps_mutants_json_that_does_not_read_faithfully_is_a_usage_error(tmp_path: Path, kind: str) -> None:
    (tmp_path / "mutants.json").write_text(BAD[kind])
    with pytest.raises(UsageProblem) as caught:
        load_run(tmp_path)
    assert "not valid JSON" in caught.value.what and str(tmp_path / "mutants.json") in str(caught.value.where)


def test_kill_evidence_that_does_not_read_faithfully_counts_as_no_kill(tmp_path: Path) -> None:
    evidence = tmp_path / "t1.evidence.json"
    evidence.write_text('{"accepted": true, "killed_by": {"m1": ["t"]}, "killed_by": {}, "reason": "r"}')
    got = read_evidence(evidence)
    assert got["accepted"] is False and "duplicate key" in got["reason"]
    evidence.write_text('{"accepted": true, "killed_by": "everything"}')
    assert read_evidence(evidence)["accepted"] is False
    evidence.write_text(json.dumps({"accepted": True, "killed_by": {"m1": ["t"]}, "reason": "r"}))
    assert read_evidence(evidence)["killed_by"] == {"m1": ["t"]}


def test_a_duplicate_keyed_calibration_set_is_not_counted_from_its_last_list() -> None:
    assert own_label_counts('{"calibration": [{"id": 1}], "calibration": []}') is None
