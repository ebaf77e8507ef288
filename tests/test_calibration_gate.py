"""The calibration gate: a judge's verdict scored against the operator-labelled set (DESIGN 7.4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from launcher.gates.calibration import GateExit, run_gate
from launcher.models.judge import CalibrationSet, JudgeInputInvalid, load_judge_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "mutation" / "calibration-set.json"


def labelled() -> dict[str, Any]:
    return json.loads(SHIPPED.read_text())


def truth() -> dict[int, str]:
    return {e["id"]: e["ground_truth"] for e in labelled()["calibration"]}


def verdict_file(tmp_path: Path, calls: dict[int, str], **extra: Any) -> Path:
    data = {"contract_version": "1",
            "verdicts": [{"id": i, "classification": c, "confidence": 0.8, "justification": "read the code"}
                         for i, c in calls.items()],
            "calibration": {"precision": None, "recall": None}, **extra}  # fmt: skip
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(data))
    return path


def gate_cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", "mutation", "gate", *args], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60)  # fmt: skip


def test_shipped_assets_are_valid_identical_and_the_packet_hides_the_labels() -> None:
    for name in ("calibration-set.json", "judge-prompt.md", "README.md"):
        assert (ROOT / "mutation" / name).read_bytes() == (ROOT / "launcher" / "data" / "mutation" / name).read_bytes()
    shipped = load_judge_file(SHIPPED, CalibrationSet)
    assert {s.ground_truth for s in shipped.calibration} == {"genuine", "equivalent"}
    packet = shipped.judge_packet("report.json")
    assert packet["contract_version"] == "1" and len(packet["survivors"]) == len(shipped.calibration)
    for survivor in packet["survivors"]:
        assert list(survivor) == ["id", "fault", "target", "line", "rationale", "orig", "mut", "status"]


def test_a_perfect_judge_passes_and_the_report_has_the_confusion_matrix(tmp_path: Path) -> None:
    result = run_gate(verdict_file(tmp_path, truth()), SHIPPED, env={})
    assert result.exit_code is GateExit.PASSED
    written = json.loads((tmp_path / "calibration-report.json").read_text())
    assert written == result.report
    genuine = sum(1 for v in truth().values() if v == "genuine")
    assert written["confusion"] == {"TP": genuine, "FP": 0, "FN": 0, "TN": len(truth()) - genuine}
    assert written["precision"] == 1.0 and written["recall"] == 1.0 and written["threshold"] == 0.8
    assert written["gate_verdict"] == "pass" and written["counts"]["total"] == len(truth())
    assert [o["outcome"] for o in written["outcomes"]] == ["TP" if v == "genuine" else "TN" for v in truth().values()]


def test_a_judge_that_calls_equivalent_mutants_genuine_fails_whatever_the_threshold(tmp_path: Path) -> None:
    calls = {i: "genuine" for i in truth()}  # 5 genuine right, 3 equivalent wrongly genuine
    verdict = verdict_file(tmp_path, calls)
    failed = run_gate(verdict, SHIPPED, env={})
    assert failed.exit_code is GateExit.FAILED and failed.report["gate_verdict"] == "fail"
    assert failed.report["precision"] == pytest.approx(5 / 8) and failed.report["confusion"]["FP"] == 3
    # A threshold under the share of genuine labels (62.5%) does not let it through: calling
    # everything genuine is exactly what a random pick of all 8 does (p = 1).
    lenient = run_gate(verdict, SHIPPED, env={"JUDGE_PRECISION_MIN": "0.6"})
    assert lenient.exit_code is GateExit.FAILED and lenient.report["threshold"] == 0.6
    assert lenient.report["chance"]["p_value"] == 1.0 and lenient.report["chance"]["base_rate"] == 5 / 8
    flag_wins = run_gate(verdict, SHIPPED, threshold=0.7, env={"JUDGE_PRECISION_MIN": "0.6"})
    assert flag_wins.exit_code is GateExit.FAILED and flag_wins.report["threshold"] == 0.7


def test_precision_is_undefined_when_the_judge_calls_nothing_genuine(tmp_path: Path) -> None:
    done = gate_cli(tmp_path, "--verdict", str(verdict_file(tmp_path, dict.fromkeys(truth(), "equivalent"))),
                    "--calibration", str(SHIPPED))  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "precision undefined" in done.stdout and "recall 0.0%" in done.stdout
    report = json.loads((tmp_path / "calibration-report.json").read_text())
    assert report["precision"] is None and report["gate_verdict"] == "undefined"


def test_cli_passes_with_json_and_a_custom_report_path(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "gate.json"
    done = gate_cli(tmp_path, "--verdict", str(verdict_file(tmp_path, truth())), "--calibration", str(SHIPPED),
                    "--report", str(out), "--json", "--threshold", "0.9")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(out.read_text())
    assert not (tmp_path / "calibration-report.json").exists()


def test_different_id_sets_are_exit_2_naming_the_ids_and_write_nothing(tmp_path: Path) -> None:
    calls = truth()
    del calls[3]
    calls[99] = "genuine"
    done = gate_cli(tmp_path, "--verdict", str(verdict_file(tmp_path, calls)), "--calibration", str(SHIPPED))
    assert done.returncode == 2
    assert "no verdict for id(s) [3]" in done.stderr and "unknown id(s) [99]" in done.stderr and "Fix:" in done.stderr
    assert not (tmp_path / "calibration-report.json").exists()


@pytest.mark.parametrize(
    ("mangle", "where", "key"),
    [
        (lambda v: "{not json", "verdict.json", "invalid_json"),
        (lambda v: json.dumps([v]), "verdict.json", "not_an_object"),
        (lambda v: json.dumps({**v, "verdicts": [{**v["verdicts"][0], "confidence": 1.5}, *v["verdicts"][1:]]}),
         "$.verdicts[0].confidence", "invalid:less_than_equal"),
        (lambda v: json.dumps({**v, "verdicts": [{**v["verdicts"][0], "classification": "maybe"},
                                                  *v["verdicts"][1:]]}),
         "$.verdicts[0].classification", "invalid:literal_error"),
        (lambda v: json.dumps({**v, "verdicts": [*v["verdicts"], v["verdicts"][0]]}), "verdict.json $",
         "invalid:value_error"),
        (lambda v: json.dumps({k: x for k, x in v.items() if k != "contract_version"}), "$.contract_version",
         "invalid:missing"),
    ],
)
def test_a_malformed_verdict_is_exit_2_saying_where(tmp_path: Path, mangle: Any, where: str, key: str) -> None:
    path = verdict_file(tmp_path, truth())
    path.write_text(mangle(json.loads(path.read_text())))
    with pytest.raises(JudgeInputInvalid) as caught:
        run_gate(path, SHIPPED, env={})
    assert caught.value.exit_code == 2 and where in str(caught.value.where) and caught.value.error_key == key
    assert caught.value.fix and '"verdicts"' in caught.value.fix
    assert not (tmp_path / "calibration-report.json").exists()


def test_a_malformed_calibration_set_or_threshold_is_exit_2(tmp_path: Path) -> None:
    broken = labelled()
    del broken["calibration"][2]["ground_truth"]
    bad_set = tmp_path / "set.json"
    bad_set.write_text(json.dumps(broken))
    done = gate_cli(tmp_path, "--verdict", str(verdict_file(tmp_path, truth())), "--calibration", str(bad_set))
    assert done.returncode == 2 and "$.calibration[2].ground_truth" in done.stderr
    env_bad = gate_cli(tmp_path, "--verdict", str(verdict_file(tmp_path, truth())), "--calibration", str(SHIPPED),
                       env={"JUDGE_PRECISION_MIN": "high"})  # fmt: skip
    assert env_bad.returncode == 2 and "$JUDGE_PRECISION_MIN" in env_bad.stderr
    out_of_range = gate_cli(tmp_path, "--verdict", str(tmp_path / "verdict.json"), "--calibration", str(SHIPPED),
                            "--threshold", "1.5")  # fmt: skip
    assert out_of_range.returncode == 2 and "outside 0..1" in out_of_range.stderr
    missing = gate_cli(tmp_path, "--verdict", str(tmp_path / "nope.json"), "--calibration", str(SHIPPED))
    assert missing.returncode == 2 and "cannot read it" in missing.stderr


PYTHON_SET = ROOT / "launcher" / "data" / "mutation" / "python-set" / "calibration-set.json"


def test_a_judge_flipping_a_coin_fails_the_default_gate_on_the_shipped_set(tmp_path: Path) -> None:
    """132 of the shipped set's 157 mutants are genuine (84.1%, over the default threshold of 80%):
    a judge whose calls ignore the code scores about that precision, and must not pass."""
    import random

    ids = [e["id"] for e in json.loads(PYTHON_SET.read_text())["calibration"]]
    passed = []
    for seed in range(40):
        coin = random.Random(seed)
        verdict = verdict_file(tmp_path, {i: coin.choice(["genuine", "equivalent"]) for i in ids})
        result = run_gate(verdict, PYTHON_SET, env={})
        assert result.report["chance"]["base_rate"] == pytest.approx(132 / 157)
        if result.exit_code is GateExit.PASSED:
            passed.append(seed)
    assert passed == []
    done = gate_cli(tmp_path, "--verdict", str(verdict), "--calibration", str(PYTHON_SET))
    assert done.returncode == 1 and "calibration gate: fail - precision" in done.stdout
    assert "(threshold 80%, chance p < 0.05: p=" in done.stdout and "with 84.1% of the set genuine)" in done.stdout
    assert "warning: the judge does no better than chance:" in done.stdout


def test_a_judge_that_tells_the_classes_apart_passes_on_the_shipped_set(tmp_path: Path) -> None:
    """Right on every equivalent mutant but 3 and on 120 of the 132 genuine ones: it beats chance."""
    labels = {e["id"]: e["ground_truth"] for e in json.loads(PYTHON_SET.read_text())["calibration"]}
    genuine = [i for i, t in labels.items() if t == "genuine"]
    equivalent = [i for i, t in labels.items() if t == "equivalent"]
    calls = {**labels, **dict.fromkeys(genuine[:12], "equivalent"), **dict.fromkeys(equivalent[:3], "genuine")}
    result = run_gate(verdict_file(tmp_path, calls), PYTHON_SET, env={})
    assert result.exit_code is GateExit.PASSED, result.report["warnings"]
    assert result.report["chance"]["p_value"] < 0.05 and result.report["warnings"] == []


@pytest.mark.parametrize(("label", "key", "said"), [
    ("genuine", "duplicate_mutant", "a copy counts it twice in precision and recall"),
    ("equivalent", "contradictory_labels", "labelled genuine and equivalent"),
])  # fmt: skip
def test_a_mutant_listed_twice_under_another_id_is_refused_naming_both(tmp_path: Path, label: str, key: str,
                                                                       said: str) -> None:
    """Copies weigh one mutant many times (20 distinct mutants failing at 62.5% passed at 92.1% once
    two were repeated 80 times); a copy labelled the other way contradicts the first."""
    data = labelled()
    first = data["calibration"][0]  # id 1, genuine
    data["calibration"] += [{**first, "id": 100 + k, "ground_truth": label} for k in range(3)]
    path = tmp_path / "set.json"
    path.write_text(json.dumps(data))
    calls = {**truth(), 100: "genuine", 101: "genuine", 102: "genuine"}
    done = gate_cli(tmp_path, "--verdict", str(verdict_file(tmp_path, calls)), "--calibration", str(path), "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    error = json.loads(done.stdout)
    assert error["error_key"] == key
    assert f"ids 1 and 100 are the same mutant ({first['target']}:" in error["observations"]
    assert said in error["observations"]
    assert not (tmp_path / "calibration-report.json").exists()


def _set_of(tmp_path: Path, labels: list[str]) -> tuple[Path, Path]:
    """A calibration set with these labels, and the verdict of a judge right on every one."""
    entries = [{"id": i, "fault": "number", "target": "m.py", "line": i, "rationale": "r", "orig": f"x = {i}",
                "mut": f"x = {i + 1}", "status": "SURVIVED", "ground_truth": gt, "label_rationale": "read it"}
               for i, gt in enumerate(labels, 1)]  # fmt: skip
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"contract_version": "1", "description": "d", "calibration": entries}))
    return verdict_file(tmp_path, {e["id"]: e["ground_truth"] for e in entries}), cal


@pytest.mark.parametrize(("labels", "needs"), [
    (["genuine"] * 10, "the set needs 2 more equivalent label(s)"),  # a weak suite's survivors: all genuine
    (["genuine"] * 9 + ["equivalent"], "the set needs 1 more equivalent label(s) or 11 more genuine label(s)"),
    (["equivalent"] * 3, "it has no genuine label (3 equivalent)"),
])  # fmt: skip
def test_a_set_no_judge_can_pass_is_named_as_the_cause_not_the_judge(tmp_path: Path, labels: list[str],
                                                                     needs: str) -> None:  # fmt: skip
    """Even a judge right on every mutant cannot reach p < 0.05 in the chance test (its best is
    1/C(n, genuine)): the gate says the set is the cause and what it needs, and never that the
    judge does no better than chance or cannot tell the classes apart."""
    verdict, cal = _set_of(tmp_path, labels)
    done = gate_cli(tmp_path, "--verdict", str(verdict), "--calibration", str(cal))
    assert done.returncode in (1, 3), done.stdout + done.stderr
    assert "this calibration set cannot show any judge better than chance, so the gate cannot pass on it" in done.stdout
    assert needs in done.stdout
    assert "the judge does no better than chance" not in done.stdout
    assert "does not tell equivalent mutants apart" not in done.stdout
    report = json.loads((tmp_path / "calibration-report.json").read_text())
    assert report["set_problem"] and report["set_best_p_value"] >= 0.05


def test_a_set_a_perfect_judge_can_pass_is_not_blamed(tmp_path: Path) -> None:
    """20 genuine and 1 equivalent: a perfect judge reaches p = 1/21 < 0.05 and passes."""
    verdict, cal = _set_of(tmp_path, ["genuine"] * 20 + ["equivalent"])
    result = run_gate(verdict, cal, env={})
    assert result.exit_code is GateExit.PASSED and result.report["set_problem"] is None


def test_a_fifo_or_a_device_as_either_file_is_refused_at_once_with_exit_2(tmp_path: Path) -> None:
    """Opening a FIFO waits for a writer, for ever: it is refused as not a regular file, never read."""
    fifo = tmp_path / "calibration-set.json"
    os.mkfifo(fifo)
    verdict = verdict_file(tmp_path, truth())
    for args in (["--calibration", str(fifo), "--verdict", str(verdict)],
                 ["--calibration", str(SHIPPED), "--verdict", str(fifo)],
                 ["--calibration", "/dev/zero", "--verdict", str(verdict)]):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "launcher", "mutation", "gate", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=20)  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        assert "cannot read it (not a regular file: it is a" in done.stderr and "Traceback" not in done.stderr


def test_a_set_over_the_value_limit_is_refused_as_too_large_not_as_invalid_json(tmp_path: Path) -> None:
    data = labelled()
    data["calibration"][0]["notes"] = [0] * 1_000_001
    big = tmp_path / "big.json"
    big.write_text(json.dumps(data))
    done = gate_cli(tmp_path, "--verdict", str(verdict_file(tmp_path, truth())), "--calibration", str(big))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "too large: it holds more than 1000000 values" in done.stderr and "size limit" in done.stderr
    assert "not JSON" not in done.stderr and "split it" in done.stderr
