"""Masking the values of the variables the launcher passes to agents and checks.

An agent given a key through its `env` (or a check through `check_env`) may print it while it
fails (a misconfigured wrapper, a chatty CLI): that output becomes a failure message, which the
journal, `--json`, the step summary, the CI log and the export manifest (a CI artifact) carry.
Every place that reports agent or check output masks those values first, as CI systems do for
their logs: each value of at least MIN_SECRET_CHARS characters becomes `***(NAME)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from launcher.secret_mask import cut_reach, mask, mask_bytes, mask_bytes_window, mask_window, value_forms

# The masking primitive lives in the base layer (launcher/secret_mask.py, used by capped_log.py);
# its names are re-exported here for the layers above.
__all__ = [
    "CONTRACT_DATA_KEYS",
    "MIN_SECRET_CHARS",
    "StreamMask",
    "cut_reach",
    "mask",
    "mask_bytes",
    "mask_bytes_window",
    "mask_contract",
    "mask_data",
    "mask_window",
    "plan_passed_names",
    "secret_values",
]

MIN_SECRET_CHARS = 8  # shorter values (`1`, `true`, a region) are not masked: they are everywhere


def secret_values(names: Iterable[str], environ: Mapping[str, str]) -> dict[str, str]:
    """value -> name of each of `names` set in `environ` to a value long enough to mask."""
    found: dict[str, str] = {}
    for name in names:
        value = environ.get(name)
        if value is not None and len(value.strip()) >= MIN_SECRET_CHARS:
            found.setdefault(value, name)
            if value.strip() != value:
                found.setdefault(value.strip(), name)
    return found


def mask_data(data: Any, secrets: Mapping[str, str]) -> Any:
    """`mask` applied to every string in JSON-like data (dicts, lists, strings)."""
    if not secrets:
        return data
    if isinstance(data, str):
        return mask(data, secrets)
    if isinstance(data, dict):
        return {key: mask_data(value, secrets) for key, value in data.items()}
    if isinstance(data, list):
        return [mask_data(value, secrets) for value in data]
    return data


# What the launcher compares or acts on in a completion contract (models/contract.py): the files it
# claims (checked against the diff), its task, status and origin. Never masked: a value there is a
# file name or an id, and the real one is beside it anyway (the diff, the plan).
CONTRACT_DATA_KEYS = frozenset({"contract_version", "task_id", "status", "files_changed", "tests_added", "source"})


def mask_contract(contract: Any, secrets: Mapping[str, str]) -> Any:
    """A completion contract (its JSON form) with the agent's prose masked (summary, decisions,
    blockers, observations, any key of its own), its data kept as it is (CONTRACT_DATA_KEYS):
    a masked file name would make an honest claim disagree with the diff."""
    if not secrets or not isinstance(contract, dict):
        return mask_data(contract, secrets)
    return {key: value if key in CONTRACT_DATA_KEYS else mask_data(value, secrets)
            for key, value in contract.items()}


def plan_passed_names(plan: Any) -> set[str]:
    """The names a plan (its journaled or exported JSON form) passes through from the launcher's
    environment: every agent's `env` and every `check_env`, wherever they are set."""
    names: set[str] = set()
    if isinstance(plan, dict):
        for key, value in plan.items():
            if key in ("env", "check_env") and isinstance(value, list):
                names.update(name for name in value if isinstance(name, str))
            else:
                names |= plan_passed_names(value)
    elif isinstance(plan, list):
        for value in plan:
            names |= plan_passed_names(value)
    return names


class StreamMask:
    """`mask` on text that comes in pieces (a log followed as it grows): a value split between two
    pieces is masked whole. Of what it is fed, the end a value may still be starting in (up to the
    longest value's length less one character) is held back until the next piece, or `end()`."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._secrets = {value: name for value, name in secrets.items() if value}
        self._forms = value_forms(self._secrets)  # every form `mask` matches (JSON-escaped too)
        self._hold = max(map(len, self._forms), default=1) - 1
        self._held = ""

    def feed(self, text: str) -> str:
        """What of `held + text` can be shown now, masked."""
        if not self._secrets:
            return text
        text = self._held + text
        cut = _safe_cut(text, len(text) - self._hold, self._forms)
        self._held = text[cut:]
        return mask(text[:cut], self._secrets)

    def end(self) -> str:
        """What is still held, masked: the text has ended."""
        text, self._held = self._held, ""
        return mask(text, self._secrets)


def _safe_cut(text: str, cut: int, secrets: Mapping[str, str]) -> int:
    """`cut` (at least 0), moved back to the start of any value of `secrets` in `text` that it
    would split, until it splits none: the text before it is masked as the whole text would be."""
    cut = max(cut, 0)
    moved = True
    while moved and cut > 0:
        moved = False
        for value in secrets:
            start = text.find(value, max(cut - len(value) + 1, 0))
            if 0 <= start < cut < start + len(value):
                cut, moved = start, True
    return cut
