"""After `launcher mutation fix`, the rewritten sweep tells what the landed tests really do: the
sweep's other mutants (NoCoverage, unpicked Survived) of the fixed files that the landed tests
kill become Killed, so the score "after" is the one a fresh sweep of the landed commit gives."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from helpers import swept_project

from launcher.app.mutation.fix import FixOptions, fix_survivors
from launcher.app.mutation.sweep import SweepOptions, run_sweep

PROJECT = {
    "calc/__init__.py": "",
    # Tests only for "A" and "F": the `>= 80` branch survives, its `return "B"` has no coverage.
    "calc/core.py": 'def grade(score):\n    if score >= 90:\n        return "A"\n    elif score >= 80:\n'
                    '        return "B"\n    return "F"\n',
    "tests/test_core.py": "from calc.core import grade\n\n\ndef test_grade():\n    assert grade(95) == \"A\"\n"
                          "    assert grade(10) == \"F\"\n",
}  # fmt: skip


def report(run_dir: Path) -> dict[str, object]:
    return dict(json.loads((run_dir / "report.json").read_text()))


def test_mutants_the_landed_tests_also_kill_are_killed_and_the_score_matches_a_fresh_sweep(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = swept_project(tmp_path / "proj", PROJECT, ["calc/core.py"])
    runs = root / ".launcher" / "mutation-runs"
    (sweep,) = list(runs.iterdir())
    before = json.loads((sweep / "mutants.json").read_text())
    no_coverage = {e["mutant"]["id"] for e in before["mutants"] if e["result"]["status"] == "NoCoverage"}
    assert no_coverage  # `return "B"` is run by no test of the sweep

    summary = anyio.run(fix_survivors, root, FixOptions(all_unjudged=True, python=sys.executable),
                        lambda _event: None)  # fmt: skip

    assert summary.exit_code == 0 and summary.killed, summary.message
    assert set(summary.also_killed) == no_coverage  # the boundary tests run `return "B"`, and kill its mutants
    assert f"{len(no_coverage)} more mutant(s) of the sweep ({len(no_coverage)} NoCoverage) killed" in summary.message
    after = json.loads((sweep / "mutants.json").read_text())
    for entry in after["mutants"]:
        if entry["mutant"]["id"] in no_coverage:
            assert entry["result"]["status"] == "Killed" and entry["result"]["killed_by"]
            assert "NoCoverage in the sweep; killed by a test written in run" in entry["result"]["note"]
    rewritten = report(sweep)
    stryker = json.loads((sweep / "mutation-report.json").read_text())
    assert "NoCoverage" not in [m["status"] for f in stryker["files"].values() for m in f["mutants"]]

    anyio.run(run_sweep, root, SweepOptions(paths=["calc/core.py"], workers=1, python=sys.executable),
              lambda _line: None)  # a fresh sweep of the landed commit
    fresh = report(next(p for p in runs.iterdir() if p != sweep))
    assert rewritten["score"] == fresh["score"] == summary.score_after
    assert "more mutant(s) of the sweep killed by them too" in (sweep / "summary.txt").read_text()
