"""What a grader and a judge answer, as JSON Schemas for the CLIs that enforce one (Claude Code
`--json-schema`, Codex `--output-schema`), with the words that tell any agent the same.

The launcher validates every answer itself afterwards (`models.verdict`, `models.judge`): the
schema only steers the CLI, so a CLI that ignores it loses nothing.
"""

from __future__ import annotations

from typing import Any

from launcher.agents.base import Answer

_STRING = {"type": "string"}


def _object(properties: dict[str, Any], *, strict: bool) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": not strict}  # fmt: skip


def _grader_schema(strict: bool) -> dict[str, Any]:
    criterion = _object({"criterion": _STRING, "pass": {"type": "boolean"}, "justification": _STRING}, strict=strict)
    return _object({
        "verdict": {"type": "string", "enum": ["satisfied", "needs_revision"]},
        "criterion_results": {"type": "array", "items": criterion},
        "required_fixes": {"type": "array", "items": _STRING},
        "iteration": {"type": "integer"},
        "rubric_version": _STRING,
    }, strict=strict)  # fmt: skip


def _judge_schema(strict: bool) -> dict[str, Any]:
    call = _object({
        "id": {"type": "integer"},
        "classification": {"type": "string", "enum": ["genuine", "equivalent"]},
        "confidence": {"type": "number"},
        "justification": _STRING,
    }, strict=strict)  # fmt: skip
    stats = _object({"precision": {"type": ["number", "null"]}, "recall": {"type": ["number", "null"]}}, strict=strict)
    return _object({
        "contract_version": {"type": "string", "enum": ["1"]},
        "verdicts": {"type": "array", "items": call},
        "calibration": stats,
    }, strict=strict)  # fmt: skip


def grader_answer(iteration: int) -> Answer:
    return Answer(
        name="grader verdict",
        schema=_grader_schema(False),
        strict_schema=_grader_schema(True),
        instructions=(
            "You are the grader, not the implementer: change no file. Judge every criterion of the "
            f"packet's rubrics pass or fail with a one-line justification; this is iteration {iteration}."
        ),
    )


JUDGE_ANSWER = Answer(
    name="judge verdict",
    schema=_judge_schema(False),
    strict_schema=_judge_schema(True),
    instructions=(
        "You are the judge of surviving mutants: change no file. Classify every survivor of the packet "
        "as genuine or equivalent, with a confidence from 0 to 1 and a one-line justification, one "
        "verdict per survivor with its own id."
    ),
)
