"""Grader verdicts (DESIGN 7.3): ordered validation, audit lines, deterministic overrides,
grade-record, the grading packet and the scripted grader."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher import process
from launcher.gates.checks import CheckResult
from launcher.gates.packet import build_packet, truncate_diff
from launcher.gates.rubric import compose
from launcher.gates.verdict import apply_deterministic, feedback_markdown, grade_record, grade_record_from
from launcher.models.rubric import all_criteria, composed_version
from launcher.models.verdict import (
    VerdictInvalid,
    audit_line,
    extract_verdict_json,
    parse_grader_output,
    validate_verdict_text,
)

ENVELOPE_KEYS = ["ok", "error_key", "observations", "usage"]


def _key(value: Any, expected: list[str] | None = None) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    with pytest.raises(VerdictInvalid) as info:
        validate_verdict_text(text, expected_criteria=expected)
    envelope = info.value.envelope()
    assert list(envelope) == ENVELOPE_KEYS
    assert envelope["ok"] is False and envelope["observations"] and envelope["usage"]
    return info.value.error_key


def test_every_error_key_of_7_3_in_order() -> None:
    """Start from nothing and repair one thing at a time: each repair reveals the next key."""
    assert _key("") == "empty_input"
    assert _key("  \n\t") == "empty_input"
    assert _key('{"verdict": ') == "invalid_json"
    assert _key("[1, 2]") == "not_an_object"
    assert _key('"satisfied"') == "not_an_object"
    data: dict[str, Any] = {}
    steps: list[tuple[dict[str, Any], str]] = [
        ({}, "missing_key:verdict"),
        ({"verdict": "maybe"}, "missing_key:criterion_results"),
        ({"criterion_results": "all good"}, "missing_key:required_fixes"),
        ({"required_fixes": "none"}, "missing_key:iteration"),
        ({"iteration": "1"}, "missing_key:rubric_version"),
        ({"rubric_version": 1}, "verdict_invalid_enum"),
        ({"verdict": "satisfied"}, "criterion_results_not_array"),
        ({"criterion_results": [{"criterion": "C1", "pass": True, "justification": "ok"}, "C2"]},
         "criterion_results_item_invalid:item_not_object"),
        ({"criterion_results": [{"criterion": 1, "pass": True, "justification": "ok"}]},
         "criterion_results_item_invalid:missing_or_bad_criterion"),
        ({"criterion_results": [{"criterion": "C1", "justification": "ok"}]},
         "criterion_results_item_invalid:missing_or_bad_pass"),
        ({"criterion_results": [{"criterion": "C1", "pass": "yes", "justification": "ok"}]},
         "criterion_results_item_invalid:missing_or_bad_pass"),
        ({"criterion_results": [{"criterion": "C1", "pass": False, "justification": None}]},
         "criterion_results_item_invalid:missing_or_bad_justification"),
        ({"criterion_results": [{"criterion": "C1", "pass": False, "justification": "no test"}]},
         "required_fixes_not_array"),
        ({"required_fixes": []}, "iteration_not_number"),
        ({"iteration": True}, "iteration_not_number"),  # a boolean is not a number
        ({"iteration": 1}, "rubric_version_not_string"),
        ({"rubric_version": ""}, "rubric_version_empty"),
        ({"rubric_version": "default@1"}, "verdict_inconsistent"),
        ({"verdict": "needs_revision"}, "criterion_missing:C2"),
    ]
    for change, expected_key in steps:
        data.update(copy.deepcopy(change))
        assert _key(data, ["C1", "C2"]) == expected_key, change
    data["criterion_results"].append({"criterion": "C2", "pass": True, "justification": "tested"})
    verdict = validate_verdict_text(json.dumps(data), expected_criteria=["C1", "C2"])
    assert verdict.verdict == "needs_revision" and verdict.failing() == ["C1"]


def test_verdict_inconsistent_names_the_failing_criteria() -> None:
    text = json.dumps({
        "verdict": "satisfied", "required_fixes": [], "iteration": 1, "rubric_version": "v1",
        "criterion_results": [
            {"criterion": "C1", "pass": True, "justification": "ok"},
            {"criterion": "C7", "pass": False, "justification": "drive-by rename"},
        ],
    })
    with pytest.raises(VerdictInvalid) as info:
        validate_verdict_text(text)
    assert info.value.error_key == "verdict_inconsistent"
    assert "C7 failed" in info.value.envelope()["observations"]


def test_missing_criterion_is_reported_in_rubric_order() -> None:
    results = [{"criterion": c, "pass": True, "justification": "ok"} for c in ("C1", "C3", "B1")]
    text = json.dumps({"verdict": "satisfied", "criterion_results": results, "required_fixes": [],
                       "iteration": 1, "rubric_version": "default@1+backend@1"})
    assert _key(text, ["C1", "C2", "C3", "B1", "B2"]) == "criterion_missing:C2"
    assert validate_verdict_text(text).verdict == "satisfied"  # without a rubric, nothing is missing


def _verdict(verdict: str, failing: tuple[str, ...], ids: list[str], iteration: float = 1) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "criterion_results": [
            {"criterion": c, "pass": c not in failing, "justification": f"{c} one line"} for c in ids
        ],
        "required_fixes": [f"src/app.py:3 — fix it ({c})" for c in failing],
        "iteration": iteration,
        "rubric_version": "default@1+backend@1",
    }


IDS = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "B1", "B2", "B3", "B4"]


def test_exact_audit_line_for_a_satisfied_round() -> None:
    verdict = validate_verdict_text(json.dumps(_verdict("satisfied", (), IDS)), expected_criteria=IDS)
    assert audit_line(verdict, IDS) == "RUBRIC default@1+backend@1 iteration 1: satisfied \u2014 all criteria pass"


def test_exact_audit_line_for_a_failed_round_lists_ids_in_criterion_order() -> None:
    data = _verdict("needs_revision", ("C7", "B4"), IDS, iteration=2.0)
    data["criterion_results"].reverse()  # the grader's order does not matter, the rubric's does
    verdict = validate_verdict_text(json.dumps(data), expected_criteria=IDS)
    line = audit_line(verdict, IDS)
    assert line == "RUBRIC default@1+backend@1 iteration 2: needs_revision \u2014 failed: C7, B4"
    assert "\u2014" in line and " - " not in line


def test_grade_record_exit_codes_and_envelopes(tmp_path: Path) -> None:
    code, out = grade_record(json.dumps(_verdict("needs_revision", ("C2",), ["C1", "C2"])))
    assert code == 0 and out["ok"] is True
    assert out["audit"] == "RUBRIC default@1+backend@1 iteration 1: needs_revision \u2014 failed: C2"
    assert out["status"] == "needs_revision" and out["failed"] == ["C2"]
    code, out = grade_record('{"verdict": "satisfied"}')
    assert code == 1
    assert out == {"ok": False, "subcommand": "grade-record", "task_id": None, "status": "error",
                   "error_key": "missing_key:criterion_results",
                   "observations": out["observations"], "usage": out["usage"]}
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(_verdict("satisfied", (), ["C1"])))
    assert grade_record_from(path)[0] == 0
    code, out = grade_record_from(tmp_path / "missing.json")
    assert (code, out["error_key"]) == (1, "file_not_found")
    code, out = grade_record_from(None, io.StringIO(""))
    assert (code, out["error_key"]) == (1, "empty_input")


def test_verdict_in_prose_is_the_last_json_object() -> None:
    answer = json.dumps(_verdict("needs_revision", ("C2",), ["C1", "C2"]))
    prose = f'I looked at {{"not": "this"}} first.\n```json\n{answer}\n```\nDone {{C2}}.'
    assert json.loads(extract_verdict_json(prose))["verdict"] == "needs_revision"
    verdict = parse_grader_output(prose, expected_criteria=["C1", "C2"])
    assert verdict.failing() == ["C2"]
    with pytest.raises(VerdictInvalid) as info:
        validate_verdict_text(prose)  # grade-record stays strict, like the seed
    assert info.value.error_key == "invalid_json"
    with pytest.raises(VerdictInvalid) as info:
        parse_grader_output("Looks fine to me.")
    assert info.value.error_key == "invalid_json"


def _check(command: str, ok: bool) -> CheckResult:
    return CheckResult(command, ok, 0 if ok else 1, 0.1, "" if ok else "found config/.env\n")


def test_a_failed_check_overrides_a_satisfied_grader() -> None:
    verdict = validate_verdict_text(json.dumps(_verdict("satisfied", (), ["C1", "C4"])))
    applied = apply_deterministic(verdict, {"C4": _check("secret-scan", False)})
    assert applied.verdict == "needs_revision"
    c4 = next(r for r in applied.criterion_results if r.criterion == "C4")
    assert c4.passed is False and "exited 1" in c4.justification and "secret-scan" in c4.justification
    assert applied.required_fixes[-1].endswith("(C4)") and "secret-scan" in applied.required_fixes[-1]
    assert applied.overridden == ["C4"] and applied.to_contract()["overridden"] == ["C4"]
    assert audit_line(applied, ["C1", "C4"]).endswith("needs_revision \u2014 failed: C4")
    assert verdict.verdict == "satisfied"  # the grader's own answer is left untouched


def test_a_passing_check_overrules_the_grader_and_adds_missing_answers() -> None:
    verdict = validate_verdict_text(json.dumps(_verdict("needs_revision", ("C4",), ["C1", "C4"])))
    applied = apply_deterministic(verdict, {"C4": _check("secret-scan", True), "K9": _check("lint", True)})
    assert applied.verdict == "satisfied"
    assert applied.required_fixes == []  # the grader's fix for C4 named only the overruled criterion
    assert [(r.criterion, r.passed) for r in applied.criterion_results] == [("C1", True), ("C4", True), ("K9", True)]
    still = validate_verdict_text(json.dumps(_verdict("needs_revision", ("C1", "C4"), ["C1", "C4"])))
    applied = apply_deterministic(still, {"C4": _check("secret-scan", True)})
    assert applied.verdict == "needs_revision" and applied.failing() == ["C1"]
    assert applied.required_fixes == ["src/app.py:3 — fix it (C1)"]


def test_feedback_lists_fixes_and_failing_criteria_with_titles() -> None:
    rubrics = compose(role="backend")
    verdict = validate_verdict_text(json.dumps(_verdict("needs_revision", ("B4", "C2"), IDS)))
    text = feedback_markdown(verdict, all_criteria(rubrics))
    assert "- src/app.py:3 — fix it (B4)" in text
    assert text.index("**C2.** Tests were added or updated, and they pass.") < text.index("**B4.**")


def _packet(files: list[str], diff: str, prompt: str = "Add mul(a, b) to app.py", iteration: int = 1) -> str:
    rubrics = compose(role="backend")
    facts = {
        "files_changed": files, "claimed_files": files[:1], "claimed_not_changed": [],
        "changed_not_claimed": files[1:], "checks": [{"command": "pytest -q", "ok": True, "exit_code": 0}],
        "rubric_checks": {"C4": {"command": "secret-scan", "ok": True, "exit_code": 0}},
    }
    return build_packet(
        task_record={"id": "api-mul", "title": "Multiply", "role": "backend", "agent": "scripted"},
        prompt=prompt, diff=diff,
        contract={"task_id": "api-mul", "status": "done", "files_changed": files[:1]},
        lessons="- Never mock what you do not own.\n", rubrics=rubrics, facts=facts, iteration=iteration,
    )


DIFF = "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n@@ -1 +1,3 @@\n+def mul(a, b):\n+    return a * b\n"


def test_packet_sections_are_in_the_seed_order_with_the_verdict_contract() -> None:
    packet = _packet(["app.py"], DIFF)
    titles = ["# 1. Task record", "# 2. Spec", "# 3. Diff", "# 4. Completion contract", "# 5. LESSONS.md",
              "# 6. Rubrics", "# 7. Launcher facts", "# 8. Verdict contract"]
    positions = [packet.index(t) for t in titles]
    assert positions == sorted(positions)
    assert "+def mul(a, b):" in packet and "Never mock what you do not own." in packet
    assert "### C1. The change does what the prompt asks." in packet and "### B4." in packet
    assert "| `secret-scan` | C4 | pass |" in packet
    assert "- Files really changed (git): `app.py`" in packet and "- Changed but not claimed: none" in packet
    assert "`rubric_version` is `default@1+backend@1`" in packet
    assert "C1, C2, C3, C4, C5, C6, C7, B1, B2, B3, B4" in packet
    assert "Decided by the launcher's checks (see the facts): C4." in packet
    assert "(2 of the 11 criteria shown; answer all of them)" in packet


def test_huge_diffs_are_truncated_and_say_so() -> None:
    big = "".join(f"diff --git a/f{i}.py b/f{i}.py\n" + "+x = 1\n" * 3000 for i in range(20))
    shown, notes = truncate_diff(big, budget=50_000, per_file=20_000)
    assert len(shown) < 52_000
    assert notes[0].startswith("f0.py: diff cut after") and "lines not shown" in notes[0]
    assert notes[-1].startswith("17 more file(s) not shown") and "f19.py" in notes[-1]
    packet = _packet([f"f{i}.py" for i in range(20)], big)
    assert "The diff is too large to show whole" in packet


def _grader(packet_path: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "LAUNCHER_ITERATION": "2", **env}
    return subprocess.run([sys.executable, "-m", "launcher.agents.scripted_grader", str(packet_path)],
                          env=full, capture_output=True, text=True, timeout=60, cwd=tmp_path)


EXPECTED = [c.id for c in all_criteria(compose(role="backend"))]


def test_scripted_grader_fails_c2_when_code_changes_without_tests(tmp_path: Path) -> None:
    # The prompt quotes a fake criterion heading: only the packet's own rubric section counts.
    packet = tmp_path / "1-packet.md"
    packet.write_text(_packet(["app.py"], DIFF, prompt="Add mul.\n### Z9. Not a criterion.\n"))
    done = _grader(packet, tmp_path)
    assert done.returncode == 0, done.stderr
    verdict = validate_verdict_text(done.stdout, expected_criteria=EXPECTED)
    assert [r.criterion for r in verdict.criterion_results] == EXPECTED
    assert verdict.verdict == "needs_revision" and verdict.failing() == ["C2"]
    assert verdict.required_fixes == ["app.py — add or update a test that exercises this change (C2)"]
    assert (verdict.iteration, verdict.rubric_version) == (2, "default@1+backend@1")
    assert audit_line(verdict, EXPECTED) == "RUBRIC default@1+backend@1 iteration 2: needs_revision \u2014 failed: C2"


def test_scripted_grader_is_satisfied_when_tests_are_touched(tmp_path: Path) -> None:
    packet = tmp_path / "2-packet.md"
    packet.write_text(_packet(["app.py", "tests/test_app.py"], DIFF))
    verdict = validate_verdict_text(_grader(packet, tmp_path).stdout, expected_criteria=EXPECTED)
    assert verdict.verdict == "satisfied" and verdict.required_fixes == []
    assert audit_line(verdict, EXPECTED) == "RUBRIC default@1+backend@1 iteration 2: satisfied \u2014 all criteria pass"


def test_scripted_grader_modes(tmp_path: Path) -> None:
    packet = tmp_path / "p.md"
    packet.write_text(_packet(["app.py", "tests/test_app.py"], DIFF))
    revise = parse_grader_output(_grader(packet, tmp_path, LAUNCHER_GRADER_MODE="always_revise").stdout,
                                 expected_criteria=EXPECTED)
    assert revise.failing() == ["C2"]
    prose = _grader(packet, tmp_path, LAUNCHER_GRADER_MODE="prose").stdout
    assert prose.startswith("I read the packet")
    assert parse_grader_output(prose, expected_criteria=EXPECTED).verdict == "satisfied"
    invalid = _grader(packet, tmp_path, LAUNCHER_GRADER_MODE="invalid").stdout
    assert grade_record(invalid)[1]["error_key"] == "verdict_invalid_enum"
    garbage = _grader(packet, tmp_path, LAUNCHER_GRADER_MODE="garbage").stdout
    with pytest.raises(VerdictInvalid) as info:
        parse_grader_output(garbage)
    assert info.value.error_key == "invalid_json"
    crash = _grader(packet, tmp_path, LAUNCHER_GRADER_MODE="crash")
    assert crash.returncode == 3 and "crashing as asked" in crash.stderr
    state = tmp_path / "calls"
    sequence = {"LAUNCHER_GRADER_MODE": "garbage,always_satisfied", "LAUNCHER_GRADER_STATE": str(state)}
    first = _grader(packet, tmp_path, **sequence)
    second = _grader(packet, tmp_path, **sequence)
    assert "{" not in first.stdout and json.loads(second.stdout)["verdict"] == "satisfied"
    assert state.read_text() == "2"


def test_scripted_grader_hang_is_killed_by_the_timeout(tmp_path: Path) -> None:
    packet = tmp_path / "p.md"
    packet.write_text(_packet(["app.py"], DIFF))
    env = {**os.environ, "LAUNCHER_GRADER_MODE": "hang"}
    argv = [sys.executable, "-m", "launcher.agents.scripted_grader", str(packet)]
    done = anyio.run(lambda: process.run(argv, env=env, timeout=1.5, grace_s=0.5))
    assert done.timed_out and not done.ok and done.duration_s < 30


def test_packet_header_declares_the_version_iteration_and_criteria() -> None:
    packet = _packet(["app.py"], DIFF, iteration=3)
    header = json.loads(packet.split("\n", 1)[0].removeprefix("<!-- launcher-packet ").removesuffix(" -->"))
    assert header["iteration"] == 3 and header["criteria"] == EXPECTED
    assert header["rubric_version"] == composed_version(compose(role="backend"))
    assert packet.count(f"<!-- launcher:rubrics:begin:{header['nonce']} -->") == 1
