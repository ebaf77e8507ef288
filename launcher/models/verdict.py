"""The grader verdict (DESIGN 7.3, the seed's contract, exact) and its ordered validation.

Order of the error keys (the first failure is reported):
`empty_input`, `invalid_json`, `not_an_object`, `missing_key:<k>` (verdict, criterion_results,
required_fixes, iteration, rubric_version), `verdict_invalid_enum`, `criterion_results_not_array`,
`criterion_results_item_invalid:<item_not_object|missing_or_bad_criterion|missing_or_bad_pass|
missing_or_bad_justification>`, `required_fixes_not_array`, `iteration_not_number`,
`rubric_version_not_string`, `rubric_version_empty`; then ours: `verdict_inconsistent` (satisfied
with a failing criterion), `criterion_missing:<ID>` (a criterion of the applied rubrics that
the verdict does not answer) and `criterion_unknown:<ID>` (a criterion the verdict answers that
is not in the applied rubrics; an id that is not a plain one is shown JSON-quoted). The last two
are checked only when the applied rubrics are known (a run's grading; `launcher gate
grade-record --criteria`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from launcher.errors import LauncherError
from launcher.models.decoding import json_loads, last_json_object_or_failure, structure_problem

VERDICTS = ("satisfied", "needs_revision")
REQUIRED_KEYS = ("verdict", "criterion_results", "required_fixes", "iteration", "rubric_version")
_KEYS_USAGE = "expected a JSON object with keys " + ", ".join(REQUIRED_KEYS)
_ITEM_USAGE = "every criterion_results item must be {criterion: string, pass: boolean, justification: string}"
# Packet sections the scripted grader (and any tool) can find without parsing Markdown: the markers
# carry a hash of the packet's own content, so text quoted inside the packet cannot forge them.
PACKET_HEADER = "<!-- launcher-packet "


def packet_marker(section: str, nonce: str, edge: Literal["begin", "end"]) -> str:
    return f"<!-- launcher:{section}:{edge}:{nonce} -->"


class VerdictInvalid(LauncherError):
    """A grader answer that breaks the verdict contract (exit 1, like the seed's grade-record)."""

    default_key = "verdict_invalid"


class CriterionResult(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    criterion: str
    passed: bool = Field(alias="pass")
    justification: str


class Verdict(BaseModel):
    model_config = ConfigDict(extra="allow")

    verdict: Literal["satisfied", "needs_revision"]
    criterion_results: list[CriterionResult]
    required_fixes: list[str]
    iteration: int | float
    rubric_version: str
    overridden: list[str] = Field(default_factory=list)  # criteria decided by a launcher check

    def failing(self, order: list[str] | None = None) -> list[str]:
        """Failing criterion ids, in `order` (the rubric's) first, then in answer order."""
        failed: list[str] = []
        for result in self.criterion_results:
            if not result.passed and result.criterion not in failed:
                failed.append(result.criterion)
        if order is None:
            return failed
        ranked = [c for c in order if c in failed]
        return ranked + [c for c in failed if c not in ranked]

    def to_contract(self) -> dict[str, Any]:
        """The seed's JSON shape (plus `overridden` when a check decided a criterion)."""
        data = self.model_dump(mode="json", by_alias=True)
        if not self.overridden:
            data.pop("overridden", None)
        return data


def _fail(key: str, observation: str, usage: str) -> VerdictInvalid:
    return VerdictInvalid(observation, fix=usage, error_key=key)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _item_problem(item: object) -> str | None:
    if not isinstance(item, dict):
        return "item_not_object"
    if not isinstance(item.get("criterion"), str):
        return "missing_or_bad_criterion"
    if not isinstance(item.get("pass"), bool):
        return "missing_or_bad_pass"
    if not isinstance(item.get("justification"), str):
        return "missing_or_bad_justification"
    return None


def check_verdict(data: object, *, expected_criteria: list[str] | None = None) -> Verdict:
    """Validate a parsed verdict in the documented order; raise VerdictInvalid on the first failure."""
    if not isinstance(data, dict):
        raise _fail("not_an_object", f"the verdict's top level is {_json_type(data)}, expected object", _KEYS_USAGE)
    problem = structure_problem(data)
    if problem:
        raise _fail("invalid_json", f"the verdict is unusable: {problem}", _KEYS_USAGE)
    for key in REQUIRED_KEYS:
        if key not in data:
            raise _fail(f"missing_key:{key}", f"the verdict is missing the required key {key!r}",
                        "required keys: " + ", ".join(REQUIRED_KEYS))
    if data["verdict"] not in VERDICTS:
        raise _fail("verdict_invalid_enum", f"verdict={data['verdict']!r} is not one of satisfied, needs_revision",
                    'set "verdict" to either "satisfied" or "needs_revision"')
    results = data["criterion_results"]
    if not isinstance(results, list):
        raise _fail("criterion_results_not_array", f"criterion_results is {_json_type(results)}, expected array",
                    "criterion_results must be an array of {criterion, pass, justification} objects")
    for index, item in enumerate(results):
        problem = _item_problem(item)
        if problem:
            raise _fail(f"criterion_results_item_invalid:{problem}",
                        f"criterion_results[{index}] is invalid: {problem}", _ITEM_USAGE)
    if not isinstance(data["required_fixes"], list):
        found = _json_type(data["required_fixes"])
        raise _fail("required_fixes_not_array", f"required_fixes is {found}, expected array",
                    "required_fixes must be an array (empty for a satisfied verdict)")
    if _json_type(data["iteration"]) != "number":
        raise _fail("iteration_not_number", f"iteration is {_json_type(data['iteration'])}, expected number",
                    "iteration must be a JSON number (1, 2, 3, ...)")
    if isinstance(data["iteration"], float) and not math.isfinite(data["iteration"]):
        raise _fail("iteration_not_number", f"iteration is {data['iteration']!r}, not a finite number",
                    "iteration must be a JSON number (1, 2, 3, ...)")
    version = data["rubric_version"]
    if not isinstance(version, str):
        raise _fail("rubric_version_not_string", f"rubric_version is {_json_type(version)}, expected string",
                    'rubric_version must be a string (e.g. "default@1")')
    if not version:
        raise _fail("rubric_version_empty", "rubric_version is the empty string",
                    'rubric_version must be a non-empty string (e.g. "default@1")')
    fixes = [f if isinstance(f, str) else json.dumps(f) for f in data["required_fixes"]]
    verdict = Verdict.model_validate({**data, "required_fixes": fixes, "overridden": []})
    failing = verdict.failing(expected_criteria)
    if verdict.verdict == "satisfied" and failing:
        raise _fail("verdict_inconsistent", f"the verdict is satisfied but {', '.join(failing)} failed",
                    "answer needs_revision with required_fixes when any criterion fails")
    if expected_criteria is not None:
        answered = {r.criterion for r in verdict.criterion_results}
        for cid in expected_criteria:
            if cid not in answered:
                raise _fail(f"criterion_missing:{cid}", f"the verdict has no result for criterion {cid}",
                            "give one criterion_results item per criterion: " + ", ".join(expected_criteria))
        applied = set(expected_criteria)
        for result in verdict.criterion_results:
            if result.criterion not in applied:
                shown = _shown_id(result.criterion)
                raise _fail(f"criterion_unknown:{shown}",
                            f"the verdict answers criterion {shown}, which is not in the applied rubrics",
                            "give one criterion_results item per criterion of the applied rubrics, and no "
                            "other: " + ", ".join(expected_criteria))
    return verdict


_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _shown_id(cid: str) -> str:
    """A criterion id the grader wrote, fit for an error key: as written when it is a plain id,
    else JSON-quoted (ASCII, control characters escaped) and cut to 66 characters."""
    return cid if _PLAIN_ID.fullmatch(cid) else json.dumps(cid)[:66]


def claimed_task_id(verdict: Verdict, expected: str | None) -> str | None:
    """The task a verdict is for: its own optional `task_id` (after the seed's keys), which must
    be a string (`task_id_not_string`) and, when the caller names the task too, that task
    (`task_id_mismatch`); else `expected`. A `null` task_id is no claim."""
    claimed = (verdict.model_extra or {}).get("task_id")
    if claimed is None:
        return expected
    if not isinstance(claimed, str) or not claimed:
        raise _fail("task_id_not_string",
                    f"task_id must be a non-empty string; it is {json.dumps(claimed)[:40]} ({_json_type(claimed)})",
                    'task_id: the id of the graded task as a string, e.g. "api-login" (or leave it out)')
    if expected is not None and claimed != expected:
        raise _fail("task_id_mismatch", f"the verdict is for task {claimed!r}, not {expected!r}",
                    f"a verdict for task {expected} says \"task_id\": {json.dumps(expected)} (or leaves it out)")
    return claimed


def validate_verdict_text(text: str, *, expected_criteria: list[str] | None = None) -> Verdict:
    """Strict: the whole text is one JSON verdict (the seed's grade-record input)."""
    if not text.strip():
        raise _fail("empty_input", "the verdict input is empty", _KEYS_USAGE)
    try:
        data = json_loads(text)
    except json.JSONDecodeError as exc:
        raise _fail("invalid_json", f"the verdict is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                    _KEYS_USAGE) from None
    return check_verdict(data, expected_criteria=expected_criteria)


def extract_verdict_json(text: str) -> str:
    """A grader's answer as verdict JSON text: the text itself if it is JSON, else the last JSON
    object in the prose (preferring one with a `verdict` key). Unchanged if there is none, so the
    validation reports `invalid_json`."""
    try:
        json_loads(text)
        return text
    except json.JSONDecodeError:
        pass
    # The answer is at the end; bound the scan. An object inside a broken outer one (a NaN, a
    # trailing comma) is not the answer: the broken text is returned, so it is `invalid_json`.
    found, broken = last_json_object_or_failure(text[-512 * 1024 :], prefer_key="verdict")
    if broken is not None:
        return broken
    return json.dumps(found) if found is not None else text


def parse_grader_output(text: str, *, expected_criteria: list[str] | None = None) -> Verdict:
    """What the relay uses: accepts the verdict alone or as the last JSON object in prose."""
    return validate_verdict_text(extract_verdict_json(text), expected_criteria=expected_criteria)


def _number(value: float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def audit_summary(verdict: Verdict, order: list[str] | None = None) -> str:
    if verdict.verdict == "satisfied":
        return "all criteria pass"
    failed = verdict.failing(order)
    if failed:
        return "failed: " + ", ".join(failed)
    # Degenerate but not corrupt (seed semantics): needs_revision with every criterion passing.
    return f"needs_revision (no failing criteria listed; required_fixes count={len(verdict.required_fixes)})"


def audit_line(verdict: Verdict, order: list[str] | None = None) -> str:
    """`RUBRIC <version> iteration <n>: <verdict> — <summary>` (em dash, U+2014)."""
    return (
        f"RUBRIC {verdict.rubric_version} iteration {_number(verdict.iteration)}: "
        f"{verdict.verdict} \u2014 {audit_summary(verdict, order)}"
    )


def failing_in_audit(audit: str | None) -> list[str]:
    """The failing criterion ids an `audit_line` lists (none for anything else). The summary
    follows the last em dash: criterion ids hold no dash nor comma, while the grader's
    `rubric_version` before it may hold anything."""
    if not audit or " \u2014 " not in audit:
        return []
    summary = audit.rsplit(" \u2014 ", 1)[1]
    if not summary.startswith("failed: "):
        return []
    return [c.strip() for c in summary.removeprefix("failed: ").split(",") if c.strip()]
