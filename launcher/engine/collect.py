"""Contract collection, in DESIGN 7.1 order: structured output, $LAUNCHER_CONTRACT, final text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.errors import ContractInvalid
from launcher.models.contract import (
    MAX_CONTRACT_BYTES,
    CompletionContract,
    check_contract,
    contract_too_large,
    parse_contract_text,
)
from launcher.models.decoding import last_json_object_or_failure


@dataclass
class Collected:
    contract: CompletionContract | None
    origin: str | None  # structured_output | contract_file | final_message
    error: ContractInvalid | None  # the first failure, reported to the agent


def collect_contract(
    task_id: str, *, structured: Any, contract_path: Path, final_text: str
) -> Collected:
    first_error: ContractInvalid | None = None
    if structured is not None:
        try:
            return Collected(check_contract(structured, task_id), "structured_output", None)
        except ContractInvalid as exc:
            first_error = exc
    if contract_path.is_file():
        try:
            size = contract_path.stat().st_size
            if size > MAX_CONTRACT_BYTES:  # never loaded: an agent could fill memory with it
                raise contract_too_large(size)
            text = contract_path.read_text(encoding="utf-8", errors="replace")
            return Collected(parse_contract_text(text, task_id), "contract_file", None)
        except ContractInvalid as exc:
            first_error = first_error or exc
    # The last object of the text; an object that does not decode (a key given twice, a NaN) is
    # reported as such, and never an object inside it taken for the answer.
    candidate, broken = last_json_object_or_failure(final_text[-256 * 1024 :])
    if candidate is not None:
        try:
            return Collected(check_contract(candidate, task_id), "final_message", None)
        except ContractInvalid as exc:
            first_error = first_error or exc
    elif broken is not None:
        try:
            parse_contract_text(broken, task_id)
        except ContractInvalid as exc:
            first_error = first_error or exc
    if first_error is None:
        first_error = ContractInvalid(
            "no completion contract: nothing in structured output, $LAUNCHER_CONTRACT or the final message",
            fix="write the completion contract JSON to the file named by $LAUNCHER_CONTRACT",
            error_key="missing_contract",
        )
    return Collected(None, None, first_error)
