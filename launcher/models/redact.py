"""Masking the values of the variables the launcher passes to agents and checks.

An agent given a key through its `env` (or a check through `check_env`) may print it while it
fails (a misconfigured wrapper, a chatty CLI): that output becomes a failure message, which the
journal, `--json`, the step summary, the CI log and the export manifest (a CI artifact) carry.
Every place that reports agent or check output masks those values first, as CI systems do for
their logs: each value of at least MIN_SECRET_CHARS characters becomes `***(NAME)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

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


def mask(text: str, secrets: Mapping[str, str]) -> str:
    """`text` with every value of `secrets` (value -> name) replaced by `***(NAME)`.

    Each value is matched as it is and as JSON text holds it (`\\"`, `\\\\`, `\\uXXXX`: an agent's
    JSON-lines log, a contract file, a grader's answer). Every occurrence of every value is found
    in the original text first and the union of what they cover is masked: a value that contains
    another is masked whole, and two values that overlap (`...1234` and `1234...`) leave no part of
    either shown (`***(A)***(B)`)."""
    if not text or not secrets:
        return text
    spans: list[tuple[int, int, str]] = []
    for form, name in _forms(secrets).items():
        at = text.find(form)
        while at >= 0:
            spans.append((at, at + len(form), name))
            at = text.find(form, at + 1)
    if not spans:
        return text
    spans.sort(key=lambda span: (span[0], -span[1]))
    out: list[str] = []
    shown = 0  # text[:shown] is in `out` (masked or not)
    last_name = ""
    for start, end, name in spans:
        if end <= shown:
            continue  # inside what is masked already
        if start >= shown:
            out.append(text[shown:start])
        elif name == last_name:  # the same value again, overlapping itself: one mask
            shown = end
            continue
        out.append(f"***({name})")
        shown, last_name = end, name
    out.append(text[shown:])
    return "".join(out)


def _forms(secrets: Mapping[str, str]) -> dict[str, str]:
    """Each value (-> its name) as written and as a JSON string holds it (escaped quotes and
    backslashes, control and non-ASCII characters as `\\uXXXX` or as they are)."""
    forms: dict[str, str] = {}
    for value, name in secrets.items():
        forms.setdefault(value, name)
        for ascii_only in (True, False):
            forms.setdefault(json.dumps(value, ensure_ascii=ascii_only)[1:-1], name)
    return forms


def mask_bytes(data: bytes, secrets: Mapping[str, str]) -> bytes:
    """`mask` on a process's raw output (bytes that are not UTF-8 kept as they are)."""
    if not data or not secrets:
        return data
    return mask(data.decode("utf-8", "surrogateescape"), secrets).encode("utf-8", "surrogateescape")


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
