"""The lines a `git diff -U0` adds or changes, per file, numbered as the mutants number them (`--since`).

git names a file in a `+++ ` header C-quoted (`"a\\tb.py"`, octal escapes for bytes) when the name
holds a control character, `"` or `\\` (and, with core.quotePath, any non-ASCII byte), and ends the
header with a tab when the name holds a space. Only a file block's header counts as one: an added
line whose own text starts `++ ` reads `+++ ...` in the hunk, and is an added line.

git numbers lines by `\\n` alone; Python also ends one at a lone `\\r` (`model.LINE_END`), so a
Python file's changed lines are renumbered from its text (`renumber`).
"""

from __future__ import annotations

import bisect
import codecs
import os
import re

from launcher.mutation.model import LINE_END, Language

_HUNK = re.compile(r"^@@ -\S+ \+(\d+)(?:,\d+)? @@")


def header_path(raw: str) -> str | None:
    """The file named by a `+++ ` header's text (after `+++ `), None for /dev/null (a deletion)."""
    if raw.endswith("\t"):  # a name that holds a tab is quoted: a trailing tab ends the header
        raw = raw[:-1]
    if raw == "/dev/null":
        return None
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        # the octal escapes are the name's bytes: decoded as Python decodes a file name (os.fsdecode)
        return os.fsdecode(codecs.escape_decode(os.fsencode(raw[1:-1]))[0])
    return raw


def added_lines(diff: str) -> dict[str, set[int]]:
    """The new-side line numbers of every `+` line of a `git diff -U0 --no-prefix` output, per new
    path; a context line (a user's diff.interHunkContext joins hunks) is counted, never marked."""
    changed: dict[str, set[int]] = {}
    current: set[int] | None = None
    in_header = False
    line_no = 0
    for line in diff.split("\n"):  # never splitlines(): a `\r` or `\f` inside a line is text
        if line.startswith("diff --git "):
            in_header, current = True, None
        elif in_header and line.startswith("+++ "):
            path = header_path(line[4:])
            current = None if path is None else changed.setdefault(path, set())
        elif m := _HUNK.match(line):
            in_header, line_no = False, int(m.group(1))
        elif in_header or current is None:
            continue
        elif line.startswith("+"):
            current.add(line_no)
            line_no += 1
        elif line.startswith(" "):
            line_no += 1
    return changed


def whole_file(data: bytes) -> set[int]:
    """Every line of a file, as git numbers them."""
    return set(range(1, data.count(b"\n") + (not data.endswith(b"\n")) + 1))


def renumber(data: bytes, lines: set[int], language: Language) -> set[int]:
    """git's line numbers of a file's bytes as `language` numbers the same lines: each git line
    maps to every language line holding one of its characters. (Python source encodings are
    ASCII-compatible, so `\\r` and `\\n` are those bytes.)"""
    if language != "python" or b"\r" not in data:
        return set(lines)
    pattern = re.compile(LINE_END[language].pattern.encode())
    git_starts = [0, *(m.end() for m in re.finditer(b"\n", data))]
    own_starts = [0, *(m.end() for m in pattern.finditer(data))]
    renumbered: set[int] = set()
    for n in lines:
        if not 1 <= n <= len(git_starts):
            continue
        lo = git_starts[n - 1]
        hi = git_starts[n] - 1 if n < len(git_starts) else max(lo, len(data) - 1)
        first, last = bisect.bisect_right(own_starts, lo), bisect.bisect_right(own_starts, hi)
        renumbered.update(range(first, last + 1))
    return renumbered
