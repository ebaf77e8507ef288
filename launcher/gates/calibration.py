"""The calibration gate (DESIGN 7.4): measure a judge's verdict against an operator-labelled set.

Positive class = `genuine` (a survivor that shows a real gap in the tests). Precision is what
the gate guards: a judge that calls equivalent mutants genuine sends people chasing tests that
cannot be written. Exit codes: 0 passed, 1 failed, 2 malformed input or the id sets differ,
3 precision undefined (the judge predicted no genuine survivor at all).

Precision alone cannot tell a judge from a coin: a judge whose calls ignore the code has, on
average, the set's share of genuine labels as its precision (84% on the shipped Python set, over
the default threshold of 80%). So the gate also asks whether the judge beats chance: under the
hypothesis that its genuine calls are a random pick of the labelled mutants, the number of them
that are truly genuine is hypergeometric (the one-sided Fisher exact test of the confusion
matrix); the gate passes only when a pick that good or better has a probability under
`CHANCE_ALPHA`. A chance-level judge therefore passes at most 5% of the time, whatever the
threshold and the base rate, while a perfect judge on the 8-mutant starter still passes (p=1/56).
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.gates.judge_identity import JudgeLookup, check_judge, recorded_judge
from launcher.models.judge import (
    CalibrationSet,
    JudgeInputInvalid,
    JudgeVerdict,
    id_set_problem,
    judged_of,
    labels_digest,
    load_judge_file,
    survivors_digest,
)
from launcher.store.files import atomic_write_json

DEFAULT_THRESHOLD = 0.8
THRESHOLD_ENV = "JUDGE_PRECISION_MIN"
REPORT_NAME = "calibration-report.json"
Z_95 = 1.959963984540054  # the standard normal quantile of a two-sided 95% interval
SMALL_SET = 20  # under this many labelled mutants a precision says little (the report warns)
ALL_GENUINE_SHARE = 0.95  # a judge calling this share genuine or more does not tell the classes apart
CHANCE_ALPHA = 0.05  # the gate passes only if a random pick does as well with a probability under this


class GateExit(enum.IntEnum):
    PASSED = 0
    FAILED = 1
    MALFORMED = 2
    UNDEFINED = 3


class GateVerdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNDEFINED = "undefined"


@dataclass
class GateResult:
    exit_code: GateExit
    report: dict[str, Any]
    report_path: Path


def resolve_threshold(flag: float | None, env: Mapping[str, str] | None = None) -> float:
    """`--threshold`, else `$JUDGE_PRECISION_MIN`, else 0.8; a value outside [0, 1] is an error."""
    env = os.environ if env is None else env
    if flag is not None:
        value, where = flag, "--threshold"
    elif env.get(THRESHOLD_ENV, "").strip():
        where = f"${THRESHOLD_ENV}"
        try:
            value = float(env[THRESHOLD_ENV])
        except ValueError:
            fix = "set a precision between 0 and 1, e.g. 0.8"
            raise JudgeInputInvalid(f"{env[THRESHOLD_ENV]!r} is not a number", where=where, fix=fix,
                                    error_key="bad_threshold") from None
    else:
        return DEFAULT_THRESHOLD
    if not 0.0 <= value <= 1.0:
        raise JudgeInputInvalid(f"{value} is outside 0..1", where=where, fix="set a precision between 0 and 1",
                                error_key="bad_threshold")  # fmt: skip
    return value


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def wilson(successes: int, trials: int, z: float = Z_95) -> dict[str, Any] | None:
    """The Wilson score interval of a proportion (95% by default): precision from 17 positives
    is not the same claim as from 500. None without trials."""
    if trials == 0:
        return None
    p, n = successes / trials, trials
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return {"method": "wilson", "confidence": 0.95 if z == Z_95 else None,
            "lower": max(0.0, centre - half), "upper": min(1.0, centre + half)}  # fmt: skip


def chance_test(confusion: Mapping[str, int]) -> dict[str, Any]:
    """Whether the judge's genuine calls beat a random pick of as many labelled mutants: the
    probability (one-sided Fisher exact test, hypergeometric) that a pick of `TP + FP` mutants
    holds `TP` genuine ones or more, given the set's genuine and equivalent counts."""
    genuine = confusion["TP"] + confusion["FN"]
    total = genuine + confusion["FP"] + confusion["TN"]
    picked, hits = confusion["TP"] + confusion["FP"], confusion["TP"]
    ways = math.comb(total, picked)
    # int / int: exact big integers, correctly rounded (0.0 on underflow), never an overflow
    p_value = _upper_tail(genuine, total - genuine, picked, hits) / ways if ways else 1.0
    return {"method": "one-sided Fisher exact (hypergeometric)", "base_rate": _ratio(genuine, total),
            "p_value": p_value, "alpha": CHANCE_ALPHA, "beats_chance": p_value < CHANCE_ALPHA}  # fmt: skip


def _upper_tail(genuine: int, equivalent: int, picked: int, hits: int) -> int:
    """The number of picks of `picked` mutants holding `hits` genuine ones or more: the sum of
    C(genuine, k) * C(equivalent, picked - k) for k >= hits, each term exactly from the one before
    (two binomials per term made a set of tens of thousands of labels take minutes)."""
    top = min(genuine, picked)
    if hits > top or picked - hits > equivalent:
        return 0
    term = math.comb(genuine, hits) * math.comb(equivalent, picked - hits)
    tail = 0
    for k in range(hits, top + 1):
        tail += term
        if k < top:  # C(g, k+1) C(e, p-k-1) = C(g, k) C(e, p-k) (g-k)(p-k) / ((k+1)(e-p+k+1)), exactly
            term = term * (genuine - k) * (picked - k) // ((k + 1) * (equivalent - picked + k + 1))
    return tail


def best_p_value(genuine: int, equivalent: int) -> float:
    """The chance-test p a judge right on every mutant reaches on a set with these labels: its
    genuine calls are exactly the genuine mutants, a pick a random one makes with 1/C(n, genuine)
    (with no genuine label, no judge has a genuine call to test: 1)."""
    if not genuine:
        return 1.0
    ways = math.comb(genuine + equivalent, genuine)
    try:
        return 1.0 / ways
    except OverflowError:  # more ways than a float holds (a set of about a thousand labels or more)
        return 1 / ways  # int / int: exact, correctly rounded (0.0 on underflow), never an overflow


def _more_needed(genuine: int, equivalent: int, of_equivalent: bool) -> int:
    """How many more labels of one class the set needs before a perfect judge can pass."""
    more = 1
    while best_p_value(genuine + (0 if of_equivalent else more), equivalent + (more if of_equivalent else 0)) \
            >= CHANCE_ALPHA:
        more += 1
    return more


def set_problem(genuine: int, equivalent: int) -> str | None:
    """Why no judge can pass the gate on a set with these labels (None: a good judge can): the
    chance test cannot reach p < CHANCE_ALPHA even for a judge right on every mutant, so failing
    there says nothing about the judge."""
    best = best_p_value(genuine, equivalent)
    if best < CHANCE_ALPHA:
        return None
    needs = []
    if genuine:
        needs.append(f"{_more_needed(genuine, equivalent, True)} more equivalent label(s)")
    if equivalent:
        needs.append(f"{_more_needed(genuine, equivalent, False)} more genuine label(s)")
    what = (f"with {genuine} genuine and {equivalent} equivalent label(s), even a judge right on every mutant "
            f"reaches only p={best:.3f} in the chance test (the gate needs under {CHANCE_ALPHA:g})"
            if genuine else f"it has no genuine label ({equivalent} equivalent): no judge's genuine call can be "
            "shown right")  # fmt: skip
    needed = " or ".join(needs or ["labels of both kinds"])
    return (f"this calibration set cannot show any judge better than chance, so the gate cannot pass on it "
            f"whatever the judge answers: {what}; the set needs {needed} (label more survivors with "
            "`launcher mutation label`, or pass --calibration with a larger set)")


def _p_text(p_value: float, alpha: float = CHANCE_ALPHA) -> str:
    """"p=0.013", with the digits its comparison with `alpha` needs, never rounded across it: a
    pass at p=0.04977 prints p=0.0498, not p=0.050 (which is what a fail just over 0.05 prints)."""
    if p_value < 0.001 < alpha:
        return "p<0.001"
    digits = 3
    while digits < 17 and (round(p_value, digits) >= alpha) != (p_value >= alpha):
        digits += 1
    return f"p={p_value:.{digits}f}"


def limit_text(limit: float) -> str:
    """A threshold or bound as a percentage with the digits it has: 0.834 -> "83.4%", 0.8 -> "80%"."""
    return f"{round(100 * limit, 6):g}%"


def pct_against(value: float, limit: float | None = None) -> str:
    """A proportion as a percentage, with enough digits that it never seems to contradict its
    comparison with `limit` as `limit_text` prints it (83.3% is under a threshold of 83.4%;
    0.83349 against 0.8335 prints 83.349%)."""
    digits = 1
    if limit is not None:
        shown_limit = round(100 * limit, 6)
        while digits < 6 and (round(100 * value, digits) >= shown_limit) != (value >= limit):
            digits += 1
    return f"{100 * value:.{digits}f}%"


def interval_text(interval: dict[str, Any] | None, min_lower_bound: float | None = None) -> str:
    """" [95% CI 73.0-99.0%]" for a summary line ("" without an interval); the lower end has the
    digits its comparison with `min_lower_bound` needs."""
    if interval is None:
        return ""
    lower = pct_against(interval["lower"], min_lower_bound).removesuffix("%")
    return f" [95% CI {lower}-{100 * interval['upper']:.1f}%]"


def precision_text(report: dict[str, Any]) -> str:
    """"precision 83.3% [95% CI ...] (threshold 83.4%, lower bound >= 70%)": the gate's condition
    as the report decided it, never rounded into a contradiction."""
    threshold, bound = report["threshold"], report.get("min_lower_bound")
    value = "undefined" if report["precision"] is None else pct_against(report["precision"], threshold)
    condition = f"threshold {limit_text(threshold)}"
    if bound is not None:
        condition += f", lower bound >= {limit_text(bound)}"
    chance = report.get("chance")
    if chance is not None and chance.get("base_rate") is not None and report["precision"] is not None:
        condition += (f", chance p < {chance['alpha']:g}: {_p_text(chance['p_value'], chance['alpha'])} with "
                      f"{100 * chance['base_rate']:.1f}% of the set genuine")  # fmt: skip
    return f"precision {value}{interval_text(report['precision_interval'], bound)} ({condition})"


def gate_warnings(confusion: Mapping[str, int], total: int, chance: Mapping[str, Any] | None = None) -> list[str]:
    """What makes a precision untrustworthy: a judge that calls (nearly) everything genuine scores
    the share of genuine labels, one no better than a random pick fails the chance test, and a
    small set proves little."""
    warnings = []
    chance = chance if chance is not None else chance_test(confusion)
    picked = confusion["TP"] + confusion["FP"]
    genuine, equivalent = confusion["TP"] + confusion["FN"], confusion["FP"] + confusion["TN"]
    unpassable = set_problem(genuine, equivalent)
    if unpassable:  # the set's fault, not the judge's: said instead of blaming the judge
        warnings.append(unpassable)
    elif picked and not chance["beats_chance"]:
        warnings.append(f"the judge does no better than chance: {confusion['TP']} of its {picked} genuine calls are "
                        f"genuine, and a random pick of {picked} of these {total} mutants does as well with "
                        f"probability {_p_text(chance['p_value']).removeprefix('p=')} (the gate needs under "
                        f"{CHANCE_ALPHA:g})")  # fmt: skip
    genuine_calls = confusion["TP"] + confusion["FP"]
    if equivalent and genuine_calls and (confusion["TN"] + confusion["FN"] == 0
                                         or genuine_calls >= ALL_GENUINE_SHARE * total):
        warnings.append(f"the judge called {genuine_calls} of {total} labelled mutants genuine: precision equals "
                        "the share of genuine labels; the judge does not tell equivalent mutants apart")  # fmt: skip
    if total < SMALL_SET:
        warnings.append(f"only {total} labelled mutant(s) (under {SMALL_SET}): too few labelled mutants to trust a "
                        "precision; see the lower bound")  # fmt: skip
    return warnings


def evaluate(verdict: JudgeVerdict, labelled: CalibrationSet, threshold: float, *, where: str = "",
             min_lower_bound: float | None = None) -> dict[str, Any]:  # fmt: skip
    """The calibration report; raises `JudgeInputInvalid` when the id sets differ. With
    `min_lower_bound` the gate also fails when precision's 95% lower bound is under it."""
    truth = {s.id: s for s in labelled.calibration}
    calls = {v.id: v for v in verdict.verdicts}
    problem = id_set_problem(set(truth), set(calls))
    if problem:
        raise JudgeInputInvalid(problem, where=where or "verdicts",
                                fix="the judge must answer every calibration survivor once, with the same ids",
                                error_key="id_sets_differ")  # fmt: skip
    confusion = {"TP": 0, "FP": 0, "FN": 0, "TN": 0}
    outcomes: list[dict[str, Any]] = []
    for mutant_id, labelled_one in sorted(truth.items()):
        call = calls[mutant_id]
        predicted, actual = call.classification == "genuine", labelled_one.ground_truth == "genuine"
        cell = ("T" if predicted == actual else "F") + ("P" if predicted else "N")
        confusion[cell] += 1
        outcomes.append({
            "id": mutant_id, "target": labelled_one.target, "line": labelled_one.line, "fault": labelled_one.fault,
            "ground_truth": labelled_one.ground_truth, "classification": call.classification,
            "confidence": call.confidence, "outcome": cell, "correct": predicted == actual,
        })  # fmt: skip
    precision = _ratio(confusion["TP"], confusion["TP"] + confusion["FP"])
    recall = _ratio(confusion["TP"], confusion["TP"] + confusion["FN"])
    precision_interval = wilson(confusion["TP"], confusion["TP"] + confusion["FP"])
    chance = chance_test(confusion)
    recall_interval = wilson(confusion["TP"], confusion["TP"] + confusion["FN"])
    if precision is None or precision_interval is None:
        gate = GateVerdict.UNDEFINED
    else:
        bound_ok = min_lower_bound is None or precision_interval["lower"] >= min_lower_bound
        passed = precision >= threshold and bound_ok and chance["beats_chance"]
        gate = GateVerdict.PASS if passed else GateVerdict.FAIL
    genuine = sum(1 for s in truth.values() if s.ground_truth == "genuine")
    return {
        "contract_version": labelled.contract_version,
        "threshold": threshold,
        "precision": precision,
        "recall": recall,
        "precision_interval": precision_interval,
        "recall_interval": recall_interval,
        "min_lower_bound": min_lower_bound,
        "chance": chance,
        # the best chance p any judge can reach on this set; None in `set_problem`: a pass is possible
        "set_best_p_value": best_p_value(genuine, len(truth) - genuine),
        "set_problem": set_problem(genuine, len(truth) - genuine),
        "gate_verdict": gate.value,
        "confusion": confusion,
        "counts": {
            "total": len(truth), "genuine": genuine, "equivalent": len(truth) - genuine,
            "predicted_genuine": confusion["TP"] + confusion["FP"],
            "predicted_equivalent": confusion["TN"] + confusion["FN"],
            "correct": confusion["TP"] + confusion["TN"],
        },
        "warnings": gate_warnings(confusion, len(truth), chance),
        "judge_reported": verdict.calibration.model_dump(),
        "outcomes": outcomes,
    }


_EXITS = {
    GateVerdict.PASS: GateExit.PASSED, GateVerdict.FAIL: GateExit.FAILED, GateVerdict.UNDEFINED: GateExit.UNDEFINED,
}


def check_bound(value: float | None) -> float | None:
    """`--min-lower-bound` must be a proportion (0..1) like the threshold."""
    if value is not None and not 0.0 <= value <= 1.0:
        raise JudgeInputInvalid(f"{value} is outside 0..1", where="--min-lower-bound",
                                fix="set a lower bound of precision between 0 and 1, e.g. 0.7",
                                error_key="bad_threshold")  # fmt: skip
    return value


def check_subject(verdict: JudgeVerdict, labelled: CalibrationSet, where: str) -> None:
    """A verdict that records what it judged (`judged`, written by `launcher mutation judge`) is
    scored only against those very mutants: equal ids are not enough (a verdict on the starter
    set has the ids of the first entries of any other set). Without the record: the seed's check."""
    judged = judged_of(verdict, where)
    if judged is None:
        return
    if survivors_digest(s.unlabelled() for s in labelled.calibration) != judged.survivors_sha256:
        raise JudgeInputInvalid(
            f"the verdict judged {judged.describe()}, not the mutants of this calibration set (the survivors' "
            f"sha256 differs, whatever the ids)", where=where, error_key="id_sets_differ",
            fix="score a verdict against the set it was judged on: `launcher mutation judge --calibrate "
                "--calibration C` judges C and gates in one step",
        )  # fmt: skip
    if judged.labels_sha256 is not None and labels_digest(labelled.calibration) != judged.labels_sha256:
        raise JudgeInputInvalid(
            f"the verdict judged {judged.describe()} with other labels: the same mutants, but their ground truth "
            "is not what it was when the judge answered (the labels' sha256 differs); a verdict is scored only "
            "against the labels it was judged on", where=where, error_key="labels_differ",
            fix="score the verdict against the set as it was judged, or judge the set as it is now: "
                "`launcher mutation judge --calibrate --calibration C`",
        )  # fmt: skip


def run_gate(verdict_path: Path, calibration_path: Path, *, threshold: float | None = None,
             report_path: Path | None = None, env: Mapping[str, str] | None = None,
             min_lower_bound: float | None = None, judges: JudgeLookup | None = None) -> GateResult:  # fmt: skip
    """The whole command: validate both files, score, write the report atomically. Malformed
    input raises `JudgeInputInvalid` (exit 2) before anything is written, and so does a
    calibration verdict whose judge differs from the one `judges` says is configured now."""
    limit, bound = resolve_threshold(threshold, env), check_bound(min_lower_bound)
    verdict = load_judge_file(verdict_path, JudgeVerdict)
    labelled = load_judge_file(calibration_path, CalibrationSet)
    check_subject(verdict, labelled, f"{verdict_path} vs {calibration_path}")
    unknown_judge = check_judge(verdict, str(verdict_path), judges)
    report = evaluate(verdict, labelled, limit, where=f"{verdict_path} vs {calibration_path}", min_lower_bound=bound)
    report["verdict_file"], report["calibration_file"] = str(verdict_path), str(calibration_path)
    report["judge"] = recorded_judge(verdict, str(verdict_path))  # which judge this measured (None: not recorded)
    report["warnings"].extend(unknown_judge)
    out = report_path or verdict_path.parent / REPORT_NAME
    _refuse_overwriting_inputs(out, {"the verdict being scored": verdict_path,
                                     "the calibration set being scored": calibration_path})
    try:
        atomic_write_json(out, report)
    except (OSError, ValueError) as exc:  # a directory, a missing parent, no permission, a NUL byte
        raise JudgeInputInvalid(f"cannot write the report: {getattr(exc, 'strerror', None) or exc}",
                                where=str(out), fix="pass --report a writable file path",
                                error_key="report_unwritable") from None
    return GateResult(gate_exit(report), report, out)


def _refuse_overwriting_inputs(out: Path, inputs: Mapping[str, Path]) -> None:
    """The report never replaces a file the gate reads: the operator's labels or the judge's
    verdict would be lost. Compared as files (a symlink, a hard link, `./set.json`), not as text."""
    for what, path in inputs.items():
        try:
            same = os.path.samefile(out, path)
        except (OSError, ValueError):  # the report does not exist yet (or is no usable path)
            same = os.path.realpath(out) == os.path.realpath(path)
        if same:
            raise JudgeInputInvalid(f"the report path names {what} ({path}): writing the report there would "
                                    "destroy it", where=str(out), error_key="report_unwritable",
                                    fix="pass --report another path (the default is calibration-report.json "
                                        "next to the verdict)")  # fmt: skip


def undefined_text(report: dict[str, Any]) -> str:
    """Why precision is undefined, blaming what is at fault: a set without a genuine label leaves
    even a judge right on every mutant no genuine call to make."""
    if not report["counts"]["genuine"]:
        return ("precision is undefined because the set has no genuine label, and the judge rightly called none "
                "genuine: the set, not the judge, is the problem (see the warning above)")  # fmt: skip
    return "the judge called no survivor genuine, so precision is undefined: check the judge, not the tests"


def gate_exit(report: dict[str, Any]) -> GateExit:
    """The exit code of a calibration report's verdict."""
    return _EXITS[GateVerdict(report["gate_verdict"])]
