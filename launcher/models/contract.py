"""The completion contract a specialist returns (DESIGN 7.1) and its ordered validation."""

from __future__ import annotations

import json
from collections import deque
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from launcher.errors import ContractInvalid
from launcher.models.decoding import json_loads, json_objects, structure_problem

CONTRACT_VERSION = "1"
CONTRACT_STATUSES = ("done", "blocked", "failed", "needs_input")
REQUIRED_KEYS = (
    "contract_version",
    "task_id",
    "status",
    "summary",
    "files_changed",
    "tests_added",
    "decisions",
    "blockers",
    "llm_observations",
)
_LIST_KEYS = ("files_changed", "tests_added", "decisions", "blockers")
CONTRACT_USAGE = (
    "write one JSON object to $LAUNCHER_CONTRACT with keys "
    + ", ".join(REQUIRED_KEYS)
    + "; contract_version \"1\", status one of "
    + "|".join(CONTRACT_STATUSES)
    + ", the four list keys arrays of strings, llm_observations non-empty text"
)


class CompletionContract(BaseModel):
    model_config = ConfigDict(extra="allow")

    contract_version: Literal["1"] = "1"
    task_id: str
    status: Literal["done", "blocked", "failed", "needs_input"]
    summary: str
    files_changed: list[str] = Field(default_factory=list)
    tests_added: list[str] = Field(default_factory=list)
    decisions: list[str] = Field(default_factory=list)
    blockers: list[str] = Field(default_factory=list)
    llm_observations: str
    source: Literal["agent", "derived"] = "agent"


def _fail(key: str, observation: str) -> ContractInvalid:
    return ContractInvalid(observation, fix=CONTRACT_USAGE, error_key=key)


def check_contract(data: object, expected_task_id: str) -> CompletionContract:
    """Validate in a fixed, documented order; raise ContractInvalid for the first failure.

    Order: not_an_object, missing_key:<k> (in REQUIRED_KEYS order), contract_version_invalid,
    task_id_mismatch, status_invalid_enum, summary_not_string, <list>_not_array (files_changed,
    tests_added, decisions, blockers; arrays of strings), llm_observations_not_string,
    llm_observations_empty.
    """
    if not isinstance(data, dict):
        raise _fail("not_an_object", f"the contract is a {type(data).__name__}, not an object")
    problem = structure_problem(data)  # structured output arrives already decoded
    if problem:
        raise _fail("invalid_json", f"the contract is unusable: {problem}")
    for key in REQUIRED_KEYS:
        if key not in data:
            raise _fail(f"missing_key:{key}", f"the contract has no {key!r} key")
    if data["contract_version"] != CONTRACT_VERSION:
        raise _fail(
            "contract_version_invalid",
            f"contract_version is {data['contract_version']!r}; expected \"1\"",
        )
    if data["task_id"] != expected_task_id:
        raise _fail(
            "task_id_mismatch",
            f"task_id is {data['task_id']!r} but this task is {expected_task_id!r}",
        )
    if data["status"] not in CONTRACT_STATUSES:
        raise _fail("status_invalid_enum", f"status {data['status']!r} is not one of {CONTRACT_STATUSES}")
    if not isinstance(data["summary"], str):
        raise _fail("summary_not_string", "summary must be a string")
    for key in _LIST_KEYS:
        value = data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _fail(f"{key}_not_array", f"{key} must be an array of strings")
    if not isinstance(data["llm_observations"], str):
        raise _fail("llm_observations_not_string", "llm_observations must be a string")
    if not data["llm_observations"].strip():
        raise _fail("llm_observations_empty", "llm_observations is empty")
    try:  # `source` is the launcher's to say: an agent cannot claim its contract was derived
        return CompletionContract.model_validate({**data, "source": "agent"})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise _fail(f"invalid:{key}", f"{key}: {first['msg']}") from None


MAX_CONTRACT_BYTES = 1 << 20  # a contract is a page of JSON; more is an agent gone wrong


def contract_too_large(size: int) -> ContractInvalid:
    return _fail("invalid_json", f"the contract is {size} bytes; at most {MAX_CONTRACT_BYTES} are read")


def parse_contract_text(text: str, expected_task_id: str) -> CompletionContract:
    """Parse and validate contract text: empty_input, invalid_json, then check_contract."""
    if not text.strip():
        raise _fail("empty_input", "the contract is empty")
    try:
        data = json_loads(text)
    except json.JSONDecodeError as exc:
        raise _fail("invalid_json", f"the contract is not JSON: {exc.msg} at line {exc.lineno}") from None
    return check_contract(data, expected_task_id)


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last top-level JSON object in free text (an agent's final message or stdout)."""
    last = deque(json_objects(text[-256 * 1024 :]), maxlen=1)  # the answer is at the end: bound the scan
    return last[0] if last else None


def derived_contract(
    task_id: str, *, exit_code: int | None, files: list[str], reason: str
) -> CompletionContract:
    """What the launcher records when the agent never gave a valid contract."""
    status: Literal["done", "failed"] = "done" if exit_code == 0 and files else "failed"
    return CompletionContract(
        task_id=task_id,
        status=status,
        summary=f"Derived by the launcher from git and the exit code ({reason}).",
        files_changed=files,
        tests_added=[],
        decisions=[],
        blockers=[] if status == "done" else [reason],
        llm_observations=f"No valid completion contract was returned: {reason}",
        source="derived",
    )
