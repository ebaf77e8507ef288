"""Masking values in text and in a process's raw bytes: the primitive under models/redact.py.

Base layer (ARCHITECTURE.md): capped_log.py masks an agent's log as it is capped, below every
layer that knows what a secret is; models/redact.py (which values, contracts, plans, streams)
builds on these and re-exports them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping


def mask(text: str, secrets: Mapping[str, str], *, commands: bool = False) -> str:
    """`text` with every value of `secrets` (value -> name) replaced by `***(NAME)`.

    Each value is matched as it is and as JSON text holds it (`\\"`, `\\\\`, `\\uXXXX`: an agent's
    JSON-lines log, a contract file, a grader's answer). Every occurrence of every value is found
    in the original text first and the union of what they cover is masked: a value that contains
    another is masked whole, and two values that overlap (`...1234` and `1234...`) leave no part of
    either shown (`***(A)***(B)`). With `commands` (the launcher's own messages and notes, whose
    `code spans` are commands and paths to copy), a value inside a code span is shown as
    `${NAME:?}` instead: the command still runs where NAME is set, and still shows no value; in a
    shell where NAME is not set it stops ("NAME: parameter null or not set") instead of running
    with nothing in the value's place (`rm -rf ${DIR}/wt` would be `rm -rf /wt`)."""
    if not text or not secrets:
        return text
    return mask_window(text, secrets, 0, len(text), commands=commands)


def mask_window(text: str, secrets: Mapping[str, str], start: int, end: int, *, commands: bool = False) -> str:
    """`text[start:end]` masked as part of the whole `text`: a value that the window's edge cuts
    through is still found (in `text`) and shown as its mask, never in part. Text about to be cut
    is masked so, with `cut_reach` characters of it kept on the far side of each cut."""
    out: list[str] = []
    shown = start  # text[start:shown] is in `out`
    for first, last, masked in _masked_regions(text, secrets, commands):
        if last <= start or first >= end:
            continue
        if first > shown:
            out.append(text[shown:first])
        out.append(masked)
        shown = last
    if shown < end:
        out.append(text[shown:end])
    return "".join(out)


def _masked_regions(text: str, secrets: Mapping[str, str], commands: bool = False) -> list[tuple[int, int, str]]:
    """The stretches of `text` that hold a value (overlapping matches joined), with what each is
    shown as: `***(NAME)`, one per value a stretch holds (`***(A)***(B)`); with `commands`, one
    value inside a `code span` whose name a shell can expand: `${NAME:?}`."""
    spans: list[tuple[int, int, str]] = []
    for form, name in value_forms(secrets).items():
        at = text.find(form)
        while at >= 0:
            spans.append((at, at + len(form), name))
            at = text.find(form, at + 1)
    spans.sort(key=lambda span: (span[0], -span[1]))
    regions: list[tuple[int, int, str]] = []
    names: list[str] = []
    for first, last, name in spans:
        if regions and first < regions[-1][1]:  # overlaps the stretch before
            if last <= regions[-1][1]:
                continue  # inside it: masked already
            if name != names[-1]:  # the same value overlapping itself is one mask
                names.append(name)
            regions[-1] = (regions[-1][0], last, "")
        else:
            regions.append((first, last, ""))
            names = [name]
        regions[-1] = (regions[-1][0], regions[-1][1], "".join(f"***({n})" for n in names))
    if commands:
        code = _code_spans(text)
        for at, (first, last, _) in enumerate(regions):
            named = {name for form, name in value_forms(secrets).items() if text[first:last] == form}
            if len(named) == 1 and _SHELL_NAME.fullmatch(name := named.pop()) \
                    and any(a <= first and last <= b for a, b in code):
                regions[at] = (first, last, f"${{{name}:?}}")
    return regions


_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CODE_SPAN = re.compile(r"`[^`\n]+`")


def _code_spans(text: str) -> list[tuple[int, int]]:
    """Where the `code spans` of `text` (one line each) hold their text: start, end."""
    return [(found.start() + 1, found.end() - 1) for found in _CODE_SPAN.finditer(text)]


def mask_bytes_window(data: bytes, secrets: Mapping[str, str], start: int, end: int) -> tuple[bytes, int, int]:
    """`mask_window` on a process's raw bytes: `data[start:end]` masked as part of `data`. The
    window's edges move inward to whole UTF-8 characters; returned with the masked bytes."""
    start = _char_start(data, start, forward=True)
    end = max(_char_start(data, end, forward=False), start)
    if not secrets:
        return data[start:end], start, end
    text = data.decode("utf-8", "surrogateescape")
    first = len(data[:start].decode("utf-8", "surrogateescape"))
    last = first + len(data[start:end].decode("utf-8", "surrogateescape"))
    return mask_window(text, secrets, first, last).encode("utf-8", "surrogateescape"), start, end


def _char_start(data: bytes, at: int, *, forward: bool) -> int:
    """`at`, or the nearest offset past it (`forward`) or before it that starts a UTF-8 character."""
    at = min(max(at, 0), len(data))
    for _ in range(3):
        if at in (0, len(data)) or data[at] & 0xC0 != 0x80:
            break
        at += 1 if forward else -1
    return at


def value_forms(secrets: Mapping[str, str]) -> dict[str, str]:
    """Each value (-> its name) as written and as a JSON string holds it (escaped quotes and
    backslashes, control and non-ASCII characters as `\\uXXXX` or as they are)."""
    forms: dict[str, str] = {}
    for value, name in secrets.items():
        forms.setdefault(value, name)
        for ascii_only in (True, False):
            forms.setdefault(json.dumps(value, ensure_ascii=ascii_only)[1:-1], name)
    return forms


def cut_reach(secrets: Mapping[str, str]) -> int:
    """How many bytes of a value (in any form `mask` matches, UTF-8) can lie beyond a cut made
    in text before it is masked: the longest form's length less one (0: nothing to mask)."""
    return max((len(form.encode("utf-8", "surrogateescape")) for form in value_forms(secrets)), default=1) - 1


def mask_bytes(data: bytes, secrets: Mapping[str, str]) -> bytes:
    """`mask` on a process's raw output (bytes that are not UTF-8 kept as they are)."""
    if not data or not secrets:
        return data
    return mask(data.decode("utf-8", "surrogateescape"), secrets).encode("utf-8", "surrogateescape")
