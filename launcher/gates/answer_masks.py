"""A reviewer's answer (a grader's verdict, a judge's), masked once it has been validated.

A grader or judge given a value through its `env` may echo it: what it wrote for people (a
justification, a required fix, a key of its own) is kept and shown with that value masked
(`launcher.models.redact`). What the launcher compares or acts on (the task id, the criterion
and mutant ids, the verdict, pass/fail, a classification, numbers) is validated as the reviewer
wrote it and kept so: a task `deploy-production` graded by a grader passed `production` must
not read as task `deploy-***(NAME)`. The relays parse the raw answer, then mask with these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from launcher.errors import LauncherError
from launcher.models.judge import JudgeVerdict
from launcher.models.redact import mask, mask_data
from launcher.models.verdict import Verdict

E = TypeVar("E", bound=LauncherError)

# (a list of items is kept here only to mask its items one by one below)
VERDICT_DATA_KEYS = frozenset({"verdict", "criterion_results", "iteration", "rubric_version", "overridden", "task_id"})
CRITERION_DATA_KEYS = frozenset({"criterion", "pass"})
JUDGE_DATA_KEYS = frozenset({"contract_version", "verdicts", "calibration", "judged"})
CALL_DATA_KEYS = frozenset({"id", "classification", "confidence"})


def masked_verdict(verdict: Verdict, secrets: Mapping[str, str]) -> Verdict:
    """A grader's validated verdict with its prose masked: each criterion's justification (and
    any key of its own), the required fixes, any key of its own at the top level."""
    if not secrets:
        return verdict
    data = _masked(verdict.model_dump(mode="json", by_alias=True), VERDICT_DATA_KEYS, secrets)
    data["criterion_results"] = [_masked(item, CRITERION_DATA_KEYS, secrets) for item in data["criterion_results"]]
    return Verdict.model_validate(data)


def masked_judge_verdict(verdict: JudgeVerdict, secrets: Mapping[str, str]) -> JudgeVerdict:
    """A judge's validated answer with its prose masked: each call's justification (and any key
    of its own), any key of its own at the top level."""
    if not secrets:
        return verdict
    data = _masked(verdict.model_dump(mode="json"), JUDGE_DATA_KEYS, secrets)
    data["verdicts"] = [_masked(call, CALL_DATA_KEYS, secrets) for call in data["verdicts"]]
    return JudgeVerdict.model_validate(data)


def masked_error(exc: E, secrets: Mapping[str, str]) -> E:
    """An invalid answer's error as it is reported, journaled and sent back (a hint file): what,
    where, fix and error key quote the answer (an id it gave, a value), so each is masked."""
    if not secrets:
        return exc
    masked = type(exc)(mask(exc.what, secrets), where=mask(exc.where, secrets) if exc.where else exc.where,
                       fix=mask(exc.fix, secrets, commands=True) if exc.fix else exc.fix,
                       error_key=mask(exc.error_key, secrets))
    masked.__cause__ = exc.__cause__
    return masked


def _masked(data: dict[str, Any], kept: frozenset[str], secrets: Mapping[str, str]) -> dict[str, Any]:
    """`data` with every key not in `kept` (its name too) masked, the `kept` ones as they are."""
    return {key if key in kept else mask(key, secrets): value if key in kept else mask_data(value, secrets)
            for key, value in data.items()}
