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
from launcher.regular_files import TooLarge, read_capped


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
    try:
        text = _contract_file_text(contract_path)
        if text is not None:
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


def _contract_file_text(path: Path) -> str | None:
    """The text at $LAUNCHER_CONTRACT; None when nothing is there. Whatever the agent left there
    that cannot be read as a regular file of at most MAX_CONTRACT_BYTES (a FIFO, a directory, a
    symbolic link, never followed, to /proc/self/mem or anywhere else; a file it made unreadable)
    is an invalid contract of this task, never an error of the run."""
    try:
        data = read_capped(path, MAX_CONTRACT_BYTES)
    except FileNotFoundError:
        return None
    except TooLarge as exc:  # never loaded: an agent could fill memory with it
        raise contract_too_large(exc.size) from None
    except OSError as exc:
        raise ContractInvalid(
            f"the contract at $LAUNCHER_CONTRACT ({path}) cannot be read: {exc.strerror or exc}",
            fix="write the completion contract JSON as a regular file at the path named by $LAUNCHER_CONTRACT",
            error_key="contract_unreadable",
        ) from None
    return data.decode("utf-8", "replace")
