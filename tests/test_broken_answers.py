"""A reviewer's answer that is broken JSON (a NaN, a trailing comma) is `invalid_json` at the
parser's position, for graders and judges alike, never a key "missing" from an object inside it
(which is the wrong hint to send back for the corrective round)."""

from __future__ import annotations

import json

import pytest

from launcher.gates.judge_relay import _validated
from launcher.models.decoding import json_loads
from launcher.models.judge import JudgeInputInvalid
from launcher.models.verdict import VerdictInvalid, parse_grader_output


def parser_says(text: str) -> str:
    """What Python's own JSON parser says of `text`: its wording is the interpreter's (a trailing
    comma is "Expecting property name ..." up to 3.12, "Illegal trailing comma ..." from 3.13 on)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.msg
    raise AssertionError(f"valid JSON: {text}")


ITEMS = '[{"criterion": "C1", "pass": true, "justification": "ok"}]'
GRADER_COMMA = ('{"verdict": "satisfied", "criterion_results": ITEMS, "required_fixes": [], "iteration": 1, '
                '"rubric_version": "1",}').replace("ITEMS", ITEMS)  # fmt: skip
GRADER = {
    "NaN iteration": ('{"verdict": "satisfied", "criterion_results": ITEMS, "required_fixes": [], "iteration": NaN, '
                      '"rubric_version": "1"}'.replace("ITEMS", ITEMS), "NaN is not a JSON number at line 1 column "),
    "trailing comma": (GRADER_COMMA, parser_says(GRADER_COMMA)),
}  # fmt: skip
CALL = '{"id": 1, "classification": "genuine", "confidence": %s, "justification": "x"}'
JUDGE_COMMA = '{"contract_version": "1", "verdicts": [%s],}' % (CALL % "0.5")
JUDGE = {
    "NaN confidence": ('{"contract_version": "1", "verdicts": [%s]}' % (CALL % "NaN"), "NaN is not a JSON number"),
    "trailing comma": (JUDGE_COMMA, parser_says(JUDGE_COMMA)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(GRADER))
@pytest.mark.parametrize("prose", ["", "Here is my verdict:\n"])
def test_a_grader_answer_that_is_broken_json_is_invalid_json_at_its_position(case: str, prose: str) -> None:
    text, reason = GRADER[case]
    with pytest.raises(VerdictInvalid) as caught:
        parse_grader_output(prose + text, expected_criteria=["C1"])
    assert caught.value.error_key == "invalid_json"
    assert reason in caught.value.envelope()["observations"] and "column" in caught.value.envelope()["observations"]


@pytest.mark.parametrize("case", list(JUDGE))
@pytest.mark.parametrize("prose", ["", "My verdict:\n"])
def test_a_judge_answer_that_is_broken_json_is_invalid_json_at_its_position(case: str, prose: str) -> None:
    text, reason = JUDGE[case]
    with pytest.raises(JudgeInputInvalid) as caught:
        _validated(prose + text, [1])
    assert caught.value.error_key == "invalid_json" and reason in caught.value.what and "column" in caught.value.what


def test_an_answer_after_prose_with_braces_is_still_found() -> None:
    text = 'I checked {"this": "thing"} and {broken. My verdict:\n{"contract_version": "1", "verdicts": [%s]}' % (
        CALL % "0.5")
    assert [c.id for c in _validated(text, [1]).verdicts] == [1]
    grader = ('notes {"x": NaN} then {"verdict": "satisfied", "criterion_results": ITEMS, "required_fixes": [], '
              '"iteration": 1, "rubric_version": "1"}').replace("ITEMS", ITEMS)
    assert parse_grader_output(grader, expected_criteria=["C1"]).verdict == "satisfied"


def test_json_decoding_names_the_real_place_and_no_yaml_for_json() -> None:
    with pytest.raises(json.JSONDecodeError) as nan:
        json_loads('{"a": 1,\n "b": NaN}')
    assert (nan.value.lineno, nan.value.colno) == (2, 7)
    with pytest.raises(json.JSONDecodeError) as big:
        json_loads(json.dumps([0] * 1_000_001))
    assert big.value.msg == "more than 1000000 values"
