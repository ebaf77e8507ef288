"""Closing the mutation loop (DESIGN 15): the equivalence pre-filter, the uncertainty of a
calibration result, operator-confirmed labels. Real sweeps of generated projects."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from conftest import repo_from

from launcher.app.mutation import prefilter as mutation_prefilter
from launcher.app.mutation.judge import JudgeOptions, judge_survivors
from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation.equivalence import prefilter
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.report_stryker import to_stryker
from launcher.mutation.run_env import child_env

EQPKG = Path(__file__).parent / "data" / "mutation" / "eqpkg"
SCHEMA_FILE = Path(__file__).parent / "data" / "mutation-testing-report-schema.json"
CORE = "eqpkg/core.py"
# (line, operator) of the mutants CPython compiles to the original's code (at optimize level 0):
# `2 ** 2` -> `2 * 2` (both folded to 4), everything after `return`, under `if False:`, and
# under `if not __debug__:` (False without -O).
EQUIVALENT_AT_0 = {(3, "arithmetic"), (10, "call_removal"), (10, "string"), (10, "arithmetic"), (10, "number"),
                   (15, "arithmetic"), (15, "number"), (17, "arithmetic"), (17, "number")}  # fmt: skip


def sweep(root: Path, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 2)
    options.setdefault("python", sys.executable)
    return anyio.run(run_sweep, root, SweepOptions(paths=[CORE], **options), lambda _line: None)


def places(outcome: SweepOutcome, kind: str) -> set[tuple[int, str]]:
    return {(r.mutant.line, r.mutant.fault) for r in outcome.results if r.equivalence == kind}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, SweepOutcome]]:
    base = tmp_path_factory.mktemp("loop")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        mp.delenv("PYTHONOPTIMIZE", raising=False)
        root = repo_from(EQPKG, base / "pkg", "folded and dead code")
        yield root, sweep(root)


def test_folded_and_unreachable_mutants_are_proven_equivalent_before_any_run(
    swept: tuple[Path, SweepOutcome],
) -> None:
    _, outcome = swept
    assert places(outcome, "equivalent") == EQUIVALENT_AT_0
    for r in outcome.results:
        if r.equivalence == "equivalent":
            assert (r.status, r.source, r.executor, r.duration_s) == (MutantStatus.IGNORED, "static", "none", 0.0)
            assert r.note.startswith("equivalent: compiles to the original's code (CPython 3.")
    # Everything else ran as usual: the weak spot survives, the rest is killed.
    rest = {r.status for r in outcome.results if not r.equivalence}
    assert rest == {MutantStatus.KILLED, MutantStatus.SURVIVED}
    report = json.loads((outcome.out_dir / "report.json").read_text())
    assert report["summary"]["prefilter"] == {"equivalent": 9, "duplicate": 0, "docstring-only": 0,
                                              "annotation-only": 0}  # fmt: skip
    statuses = {(m["line"], m["fault"]): m["status"] for m in report["mutants"]}
    assert {k for k, v in statuses.items() if v == "EQUIVALENT"} == EQUIVALENT_AT_0
    assert "equivalence pre-filter: 9 equivalent, 0 duplicate" in (outcome.out_dir / "summary.txt").read_text()
    survivors = [json.loads(s) for s in (outcome.out_dir / "survivors.jsonl").read_text().splitlines()]
    assert {s["line"] for s in survivors} == {24}  # equivalents are never sent to the judge


def test_the_stryker_report_says_ignored_with_the_reason(swept: tuple[Path, SweepOutcome]) -> None:
    _, outcome = swept
    data = json.loads((outcome.out_dir / "mutants.json").read_text())
    report = to_stryker(data)
    mutants = report["files"][CORE]["mutants"]
    ignored = [m for m in mutants if m["status"] == "Ignored"]
    assert len(ignored) == 9
    assert all("equivalent: compiles to the original's code" in m["statusReason"] for m in ignored)
    jsonschema.validate(report, json.loads(SCHEMA_FILE.read_text()))


def test_no_prefiltered_mutant_is_killed_by_any_test(swept: tuple[Path, SweepOutcome],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Precision 1.0: the same sweep without the filter runs every mutant it proved equivalent."""
    root, filtered = swept

    async def no_filter(*_args: Any, **_kwargs: Any) -> tuple[dict[str, Any], str]:
        return {}, ""

    monkeypatch.setattr(mutation_prefilter, "prefilter", no_filter)
    unfiltered = {r.mutant.id: r for r in sweep(root).results}
    proven = [r.mutant.id for r in filtered.results if r.equivalence == "equivalent"]
    assert len(proven) == 9
    assert {unfiltered[i].status for i in proven} <= {MutantStatus.SURVIVED, MutantStatus.NO_COVERAGE}
    assert all(unfiltered[i].source == "run" or unfiltered[i].status is MutantStatus.NO_COVERAGE for i in proven)
    assert any(r.status is MutantStatus.KILLED for r in unfiltered.values())  # the suite does kill


def test_under_python_O_the_debug_branches_swap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                swept: tuple[Path, SweepOutcome]) -> None:  # fmt: skip
    """The tests' own optimisation level decides: with -O `if __debug__:` is dead code and
    `if not __debug__:` runs."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONOPTIMIZE", "1")
    root = repo_from(EQPKG, tmp_path / "pkg", "folded and dead code")
    optimized = sweep(root, operators=["arithmetic"])
    by_line = {r.mutant.line: r for r in optimized.results}
    assert by_line[19].equivalence == "equivalent" and "optimize level 1" in by_line[19].note
    assert by_line[17].status is MutantStatus.KILLED and not by_line[17].equivalence
    _, plain = swept
    plain_by_line = {(r.mutant.line, r.mutant.fault): r for r in plain.results}
    assert plain_by_line[(19, "arithmetic")].status is MutantStatus.KILLED
    assert plain_by_line[(17, "arithmetic")].equivalence == "equivalent"


SOURCE = '''"""Module doc."""


def total(a: "int", b):
    """Add them."""
    return a + b
'''


def mutant(index: int, old: str, new: str, *, nth: int = 0) -> Mutant:
    start = -1
    for _ in range(nth + 1):
        start = SOURCE.index(old, start + 1)
    line = SOURCE.count("\n", 0, start) + 1
    return Mutant(id=f"m{index}", index=index, fault="test", target="mod.py", line=line, col=1, end_line=line,
                  end_col=2, function="total", scope_hash="h", scope_lines=(4, 6), rationale="r", orig=old, mut=new,
                  start=start, end=start + len(old), replaced=old, replacement=new)  # fmt: skip


def test_duplicates_docstrings_annotations_and_moved_lines(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(SOURCE)
    mutants = [
        mutant(1, "+", "-"),  # a real change
        mutant(2, "a + b", "a - b"),  # the same program as #1: a duplicate
        mutant(3, "Add them.", "XXAdd them.XX"),  # docstring only: a test can read __doc__
        mutant(4, '"int"', '"str"'),  # annotation only: a test can read __annotations__
        mutant(5, "a + b", "(a\n            + b)"),  # same code, but the lines after it would move
        mutant(6, "a + b", "(a + b)"),  # the very same code: equivalent
    ]
    found, summary = anyio.run(prefilter, tmp_path, mutants, sys.executable, child_env())
    kinds = {mutant_id: f.kind for mutant_id, f in found.items()}
    assert kinds == {"m2": "duplicate", "m3": "docstring-only", "m4": "annotation-only", "m6": "equivalent"}
    assert found["m2"].reason.startswith("duplicate of mutant #1 m1")
    assert summary.startswith("equivalence pre-filter: 1 equivalent, 1 duplicate")


def test_a_probe_that_cannot_run_filters_nothing(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(SOURCE)
    at_an_unknown_level = anyio.run(prefilter, tmp_path, [mutant(6, "a + b", "(a + b)")], sys.executable,
                                    child_env(), (7,))  # fmt: skip
    assert at_an_unknown_level[0] == {}
    found, summary = anyio.run(prefilter, tmp_path, [mutant(6, "a + b", "(a + b)")], shutil.which("false") or "false",
                               child_env())  # fmt: skip
    assert found == {} and summary.startswith("equivalence pre-filter skipped: the probe failed under")


def test_the_judge_cost_gate_shows_the_calls_the_filter_saved(swept: tuple[Path, SweepOutcome],
                                                              tmp_path: Path) -> None:  # fmt: skip
    root, outcome = swept
    (root / "launcher.toml").write_text('[agents.j]\nadapter = "scripted-judge"\n')
    asked: list[str] = []
    summary = anyio.run(judge_survivors, root, JudgeOptions(run=str(outcome.out_dir), agent="j", batch_size=1),
                        lambda q: asked.append(q) or False)  # fmt: skip
    assert asked == ["Proceed to judge (2 calls, ~$0.00; 9 saved by the pre-filter's 9 proven equivalent(s))?"]
    assert (summary.prefiltered, summary.calls_saved) == (9, 9)
    (root / "launcher.toml").unlink()


# --- The uncertainty of a calibration result -------------------------------------------------


def seed_like_run(tmp_path: Path) -> tuple[Path, Path]:
    """The seed's recorded calibration: 24 survivors, the judge right but for one FP and one FN
    (TP 16, FP 1, FN 1, TN 6: precision 16/17 = 0.9412)."""
    truth = ["genuine"] * 17 + ["equivalent"] * 7
    calls = ["genuine"] * 16 + ["equivalent"] + ["genuine"] + ["equivalent"] * 6
    entries = [{"id": i, "fault": "comparison", "target": "pkg/m.py", "line": i, "rationale": "r", "orig": "a < b",
                "mut": "a <= b", "status": "SURVIVED", "ground_truth": t, "label_rationale": "read it"}
               for i, t in enumerate(truth, 1)]  # fmt: skip
    verdicts = [{"id": i, "classification": c, "confidence": 0.9, "justification": "j"} for i, c in enumerate(calls, 1)]
    calibration, verdict = tmp_path / "calibration.json", tmp_path / "verdict.json"
    calibration.write_text(json.dumps({"contract_version": "1", "description": "d", "calibration": entries}))
    verdict.write_text(json.dumps({"contract_version": "1", "verdicts": verdicts,
                                   "calibration": {"precision": None, "recall": None}}))  # fmt: skip
    return verdict, calibration


def gate_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", "mutation", "gate", *args], cwd=cwd, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=60)  # fmt: skip


def test_the_seed_run_keeps_its_numbers_and_gains_wilson_intervals(tmp_path: Path) -> None:
    verdict, calibration = seed_like_run(tmp_path)
    done = gate_cli(tmp_path, "--verdict", str(verdict), "--calibration", str(calibration))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "calibration-report.json").read_text())
    assert round(report["precision"], 4) == 0.9412 and report["gate_verdict"] == "pass"
    assert report["confusion"] == {"TP": 16, "FP": 1, "FN": 1, "TN": 6}
    low, high = report["precision_interval"]["lower"], report["precision_interval"]["upper"]
    assert (round(low, 4), round(high, 4)) == (0.7302, 0.9895)  # Wilson, z = 1.96, 16 of 17
    assert report["recall_interval"]["method"] == "wilson" and report["recall_interval"]["confidence"] == 0.95
    assert "precision 94.1% [95% CI 73.0-99.0%] (threshold 80%, chance p < 0.05: p<0.001 with 70.8% of the set " \
           "genuine)" in done.stdout
    assert "recall 94.1% [95% CI 73.0-99.0%]" in done.stdout


def test_min_lower_bound_fails_a_precision_that_17_positives_cannot_support(tmp_path: Path) -> None:
    verdict, calibration = seed_like_run(tmp_path)
    files = ("--verdict", str(verdict), "--calibration", str(calibration))
    strict = gate_cli(tmp_path, *files, "--min-lower-bound", "0.8")  # 16 of 17: lower bound 73%
    assert strict.returncode == 1 and "calibration gate: fail" in strict.stdout
    assert "lower bound >= 80%" in strict.stdout
    assert json.loads((tmp_path / "calibration-report.json").read_text())["min_lower_bound"] == 0.8
    lenient = gate_cli(tmp_path, *files, "--min-lower-bound", "0.7")
    assert lenient.returncode == 0
    bad = gate_cli(tmp_path, *files, "--min-lower-bound", "80")
    assert bad.returncode == 2 and "--min-lower-bound" in bad.stderr and "Traceback" not in bad.stderr
