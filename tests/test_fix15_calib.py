"""The calibration gate and the judge, as review 15 (calib) found them wanting: the report never
replaces what it scores, a run kept in the work tree is judged, large sets and large answers
work, options that need --calibrate say so, labels of code HEAD lacks are named before the call,
and the printed numbers agree with the verdict they explain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from helpers import ADULT_PROJECT, swept_in

READING_JUDGE = """\
import json, os
packet = json.load(open(os.environ["LAUNCHER_PACKET"]))
print(json.dumps({"contract_version": "1", "verdicts": [{"id": s["id"], "classification": "genuine",
      "confidence": 0.9, "justification": "j"} for s in packet["survivors"]]}))
"""


def launcher(cwd: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=cwd, text=True, capture_output=True,
                          env=os.environ.copy(), timeout=timeout)  # fmt: skip


def labelled_set(path: Path, genuine: int, equivalent: int, target: str = "pkg/mod.py") -> Path:
    entries = [{"id": i + 1, "fault": "arith", "target": target, "line": 2, "rationale": "r",
                "orig": "    return x + 1", "mut": f"    return x - {i + 1}", "status": "SURVIVED",
                "ground_truth": "genuine" if i < genuine else "equivalent", "label_rationale": "because"}
               for i in range(genuine + equivalent)]  # fmt: skip
    path.write_text(json.dumps({"contract_version": "1", "description": "d", "calibration": entries}))
    return path


def verdict_of(path: Path, calls: dict[int, str]) -> Path:
    verdicts = [{"id": i, "classification": c, "confidence": 0.9, "justification": "j"} for i, c in calls.items()]
    path.write_text(json.dumps({"contract_version": "1", "verdicts": verdicts}))
    return path


def right_on_all(path: Path, labelled: Path) -> Path:
    entries = json.loads(labelled.read_text())["calibration"]
    return verdict_of(path, {e["id"]: e["ground_truth"] for e in entries})


# -- 05: the report never replaces the set or the verdict it scores --------------------------------


@pytest.mark.parametrize("spelling", ["set.json", "./set.json", "link-to-set.json", "verdict.json"])
def test_a_report_path_naming_the_scored_set_or_verdict_is_refused_and_both_are_kept(tmp_path: Path,
                                                                                     spelling: str) -> None:
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    verdict = right_on_all(tmp_path / "verdict.json", labels)
    (tmp_path / "link-to-set.json").symlink_to("set.json")
    before = {p.name: p.read_bytes() for p in (labels, verdict)}
    done = launcher(tmp_path, "mutation", "gate", "--verdict", "verdict.json", "--calibration", "set.json",
                    "--report", spelling)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--report another path" in done.stderr and "destroy" in done.stderr
    assert {p.name: p.read_bytes() for p in (labels, verdict)} == before
    assert (tmp_path / "link-to-set.json").is_symlink()


def test_a_report_path_of_its_own_is_still_written(tmp_path: Path) -> None:
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    right_on_all(tmp_path / "verdict.json", labels)
    done = launcher(tmp_path, "mutation", "gate", "--verdict", "verdict.json", "--calibration", "set.json",
                    "--report", "report.json")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "report.json").read_text())["gate_verdict"] == "pass"


# -- 06: a merged run kept in the work tree is judged; the launcher's own log there is not the judge's --


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from swept_in(tmp_path_factory, "fix15-calib", ADULT_PROJECT)


@pytest.fixture
def proj(swept: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    subprocess.run(["cp", "-a", str(swept), str(root)], check=True)
    (root / "judge.py").write_text(READING_JUDGE)
    (root / "launcher.toml").write_text(
        f'[agents.j]\nadapter = "command"\ncommand = {json.dumps([sys.executable, str(root / "judge.py")])}\n')
    git(root, "add", "launcher.toml", "judge.py")
    git(root, "commit", "-qm", "the judge")
    return root


def test_a_merged_run_in_the_work_tree_is_judged_by_a_judge_that_only_reads(proj: Path) -> None:
    sweep = next((proj / ".launcher" / "mutation-runs").iterdir())
    merged = launcher(proj, "mutation", "merge", str(sweep), "-o", "merged")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    done = launcher(proj, "mutation", "judge", "merged", "--agent", "j", "--confirm-judge")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "judged 2 survivors: 2 genuine" in out and "outside its read-only checkout" not in out
    assert (proj / "merged" / "verdict.json").is_file() and (proj / "merged" / "judge" / "agent.log").is_file()
    assert not (proj / "merged" / "judge" / "intrusions").exists()


def test_a_judge_forging_the_verdict_of_a_merged_run_in_the_work_tree_is_still_caught(proj: Path) -> None:
    sweep = next((proj / ".launcher" / "mutation-runs").iterdir())
    assert launcher(proj, "mutation", "merge", str(sweep), "-o", "merged").returncode == 0
    forger = READING_JUDGE.replace('packet = ', 'open("MAIN/merged/verdict.json", "w").write("{}")\npacket = ')
    (proj / "judge.py").write_text(forger.replace("MAIN", str(proj)))
    git(proj, "commit", "-qam", "a forging judge")
    done = launcher(proj, "mutation", "judge", "merged", "--agent", "j", "--confirm-judge")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "judge_wrote_outside_checkout" in out and "verdict.json" in out.split("outside its read-only", 1)[1]
    assert not (proj / "merged" / "verdict.json").exists()


# -- 02: sets of thousands of labels are scored, not crashed on ------------------------------------


def test_a_judge_right_on_every_one_of_2000_labels_passes_the_gate(tmp_path: Path) -> None:
    labels = labelled_set(tmp_path / "set.json", 1200, 800)
    right_on_all(tmp_path / "verdict.json", labels)
    done = launcher(tmp_path, "mutation", "gate", "--verdict", "verdict.json", "--calibration", "set.json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "calibration-report.json").read_text())
    assert report["gate_verdict"] == "pass" and report["set_problem"] is None
    assert report["set_best_p_value"] == 0.0 and report["chance"]["p_value"] == 0.0


def test_a_chance_level_judge_on_a_large_set_is_scored_exactly_and_quickly(tmp_path: Path) -> None:
    from fractions import Fraction
    from math import comb

    from launcher.gates.calibration import best_p_value, chance_test

    # 20,000 labels, half genuine; the judge's 5,000 genuine calls hold 2,510 genuine ones: chance.
    confusion = {"TP": 2510, "FP": 2490, "FN": 7490, "TN": 7510}
    exact = Fraction(sum(comb(10000, k) * comb(10000, 5000 - k) for k in range(2510, 5001)), comb(20000, 5000))
    assert chance_test(confusion)["p_value"] == float(exact) and not chance_test(confusion)["beats_chance"]
    # Small sets keep the values they always had (the shipped 8-mutant set: a perfect judge, 1/56).
    assert best_p_value(5, 3) == 1.0 / 56 and best_p_value(16, 66) == 1.0 / comb(82, 16)
    assert chance_test({"TP": 5, "FP": 0, "FN": 0, "TN": 3})["p_value"] == 1 / 56
    assert best_p_value(1200, 800) == 0.0 and best_p_value(0, 5000) == 1.0


# -- judge --calibrate on a small repository of its own ---------------------------------------------

SET_JUDGE = """\
import json, os, sys
packet = json.load(open(os.environ["LAUNCHER_PACKET"]))
verdicts = [{"id": s["id"], "classification": "genuine" if int(s["mut"].rsplit("-", 1)[1]) <= GENUINE else
             "equivalent", "confidence": 0.9, "justification": "the mutant changes the result. " * PAD}
            for s in packet["survivors"]]
print(PROSE + json.dumps({"contract_version": "1", "verdicts": verdicts}))
"""


@pytest.fixture
def calibrated(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("def f(x):\n    return x + 1\n")
    (root / "pkg" / "__init__.py").write_text("")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "code")
    return root


def set_judge(root: Path, genuine: int, pad: int = 1, prose: str = "") -> None:
    script = root.parent / "judge.py"
    script.write_text(SET_JUDGE.replace("GENUINE", str(genuine)).replace("PAD", str(pad))
                      .replace("PROSE", repr(prose)))  # fmt: skip
    (root / "launcher.toml").write_text(
        f'[agents.j]\nadapter = "command"\ncommand = {json.dumps([sys.executable, str(script)])}\n')
    git(root, "add", "launcher.toml")
    git(root, "commit", "-qm", "the judge")


def calibrate(root: Path, labels: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return launcher(root, "mutation", "judge", "--calibrate", "--calibration", str(labels), "--agent", "j",
                    "--confirm-judge", *more, timeout=300)  # fmt: skip


# -- 01: an answer over 256 KiB (under the 4 MiB cap) is read whole ----------------------------------


def test_a_verdict_of_300_kib_printed_alone_is_read_whole_and_gated(calibrated: Path) -> None:
    labels = labelled_set(calibrated.parent / "set.json", 130, 30)
    set_judge(calibrated, genuine=130, pad=60)  # ~1.9 KB of justification per mutant: ~310 KB in all
    done = calibrate(calibrated, labels, "--batch-size", "160")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "calibration gate: pass" in out and "1 call(s)" in out
    log = next((calibrated / ".launcher" / "calibration").glob("*/judge/agent.log"))
    assert log.stat().st_size > 256 * 1024


def test_a_long_verdict_after_prose_is_refused_as_too_large_naming_the_batch_size(calibrated: Path) -> None:
    labels = labelled_set(calibrated.parent / "set.json", 130, 30)
    set_judge(calibrated, genuine=130, pad=60, prose="Here is my verdict:\n")
    done = calibrate(calibrated, labels, "--batch-size", "160")
    out = done.stdout + done.stderr
    assert done.returncode == 2, out  # no verdict to gate (DESIGN 7.4: malformed input), not a failed gate
    assert "too_large" in out and "--batch-size" in out
    hint = json.loads(next((calibrated / ".launcher" / "calibration").glob("*/judge/hint-1-3.json")).read_text())
    assert hint["error_key"] == "too_large" and "256 KiB" in json.dumps(hint)


# -- 07: the gate's options without --calibrate are refused before any call -------------------------


@pytest.mark.parametrize("options", [["--calibration", "SET"], ["--threshold", "0.9"],
                                     ["--min-lower-bound", "0.7"], ["--calibration", "SET", "--threshold", "0.9"]])
def test_gate_options_without_calibrate_are_refused_before_any_judge_call(calibrated: Path,
                                                                          options: list[str]) -> None:
    labels = labelled_set(calibrated.parent / "set.json", 15, 8)
    set_judge(calibrated, genuine=15)
    args = [str(labels) if o == "SET" else o for o in options]
    done = launcher(calibrated, "mutation", "judge", "--agent", "j", "--confirm-judge", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--calibrate" in done.stderr and "no judge call was made" in done.stderr
    assert not (calibrated / ".launcher" / "calibration").exists()
    assert not list((calibrated / ".launcher").glob("mutation-runs/*/judge"))


# -- 04: labels of code the judge's checkout lacks are named before the call and in the report ------


def test_labels_of_code_head_lacks_are_named_before_the_call_and_kept_in_the_report(calibrated: Path) -> None:
    labels = labelled_set(calibrated.parent / "set.json", 15, 8)
    data = json.loads(labels.read_text())
    data["calibration"][0]["target"] = "pkg/gone.py"  # a file HEAD does not have
    data["calibration"][1]["orig"] = "    return x * 3"  # a line that no longer holds its orig
    data["calibration"][2]["line"] = 40  # past the file's end
    labels.write_text(json.dumps(data))
    set_judge(calibrated, genuine=15)
    done = calibrate(calibrated, labels)
    out = done.stdout + done.stderr
    warning = next(line for line in done.stdout.splitlines() if "does not hold" in line)
    assert done.stdout.index(warning) < done.stdout.index("calibration gate:")  # said before the call's result
    assert warning.startswith("warning: 3 of 23 labelled mutant(s)")
    assert "id 1: pkg/gone.py is not in HEAD" in warning and "id 2: pkg/mod.py line 2 no longer holds" in warning
    assert "id 3: pkg/mod.py has no line 40" in warning
    report = json.loads(next((calibrated / ".launcher" / "calibration").glob("*/calibration-report.json")).read_text())
    assert report["warnings"][0].startswith("3 of 23 labelled mutant(s)"), out


def test_labels_of_the_code_at_head_draw_no_such_warning(calibrated: Path) -> None:
    labels = labelled_set(calibrated.parent / "set.json", 15, 8)
    set_judge(calibrated, genuine=15)
    done = calibrate(calibrated, labels)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "does not hold" not in done.stdout + done.stderr


def test_judge_calibrate_json_tells_a_failed_gate_from_no_verdict(calibrated: Path) -> None:
    """A failed gate exits 1; no verdict to gate exits 2 (DESIGN 7.4: malformed input); `gate_verdict` too."""
    labels = labelled_set(calibrated.parent / "set.json", 15, 8)
    set_judge(calibrated, genuine=23)  # everything genuine: precision 65%, the gate fails
    failed = calibrate(calibrated, labels, "--json")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert json.loads(failed.stdout)["gate_verdict"] == "fail"
    assert json.loads(failed.stdout)["precision"] == pytest.approx(15 / 23)
    (calibrated.parent / "judge.py").write_text("print('no verdict today')\n")
    nothing = calibrate(calibrated, labels, "--json")
    assert nothing.returncode == 2, nothing.stdout + nothing.stderr
    summary = json.loads(nothing.stdout)
    assert summary["gate_verdict"] is None and "no usable verdict" in summary["message"]


# -- 03: the chance p is printed with the digits its comparison with 0.05 needs ---------------------


def test_a_pass_just_under_the_chance_limit_never_prints_p_0_050(tmp_path: Path) -> None:
    labels = labelled_set(tmp_path / "set.json", 12, 6)
    verdict_of(tmp_path / "verdict.json", {i: "genuine" if i <= 6 else "equivalent" for i in range(1, 19)})
    done = launcher(tmp_path, "mutation", "gate", "--verdict", "verdict.json", "--calibration", str(labels))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chance p < 0.05: p=0.0498 with" in done.stdout and "p=0.050 " not in done.stdout


def test_p_texts_agree_with_the_comparison_they_explain() -> None:
    from launcher.gates.calibration import _p_text

    assert _p_text(0.049773755656108594) == "p=0.0498" and _p_text(0.0502) == "p=0.050"
    assert _p_text(0.04999996) == "p=0.04999996"
    assert _p_text(1 / 56) == "p=0.018" and _p_text(0.0004) == "p<0.001" and _p_text(1.0) == "p=1.000"


# -- 08: a set with no genuine label is blamed, not the judge right on all of it ---------------------


def test_an_undefined_precision_on_a_set_without_genuine_labels_blames_the_set(tmp_path: Path) -> None:
    labels = labelled_set(tmp_path / "set.json", 0, 10)
    verdict_of(tmp_path / "verdict.json", {i: "equivalent" for i in range(1, 11)})
    done = launcher(tmp_path, "mutation", "gate", "--verdict", "verdict.json", "--calibration", str(labels))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "check the judge" not in done.stdout and "the set, not the judge, is the problem" in done.stdout


def test_an_undefined_precision_on_a_set_with_genuine_labels_still_blames_the_judge(tmp_path: Path) -> None:
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    verdict_of(tmp_path / "verdict.json", {i: "equivalent" for i in range(1, 24)})
    done = launcher(tmp_path, "mutation", "gate", "--verdict", "verdict.json", "--calibration", str(labels))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "check the judge, not the tests" in done.stdout
