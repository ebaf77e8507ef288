"""Positions in a Stryker report as its viewer reads them (DESIGN 9, 11).

The reference viewer (mutation-testing-elements, shipped in `launcher/data/report/`) cuts a file's
`source` into lines at `\\r\\n`, `\\r`, `\\n`, U+2028 and U+2029, and counts a column in UTF-16 code
units (JavaScript strings), from 1. A mutant's own `line`/`col` count lines as its language does
(bash: at `\\n` only) and columns in characters, so the report places each mutant from its
character offsets in the source it embeds; the plain HTML page reads the report back the same way.
"""

from __future__ import annotations

import bisect
import re

VIEWER_LINE_END = re.compile("\r\n|[\r\n\u2028\u2029]")


def _utf16_len(text: str) -> int:
    return len(text) + sum(ord(c) > 0xFFFF for c in text)


class ViewerText:
    """One file's source and where its lines start, as the viewer counts them."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.starts = [0, *(m.end() for m in VIEWER_LINE_END.finditer(source))]

    def location(self, offset: int) -> dict[str, int]:
        """`{"line", "column"}` (1-based; the column in UTF-16 units) of a character offset."""
        line = bisect.bisect_right(self.starts, offset)
        return {"line": line, "column": _utf16_len(self.source[self.starts[line - 1] : offset]) + 1}


def viewer_lines(source: str) -> list[str]:
    """The lines of a report's `source` without their line ends, as the viewer numbers them."""
    return VIEWER_LINE_END.split(source) if source else []


def char_index(text: str, column: int) -> int:
    """The index into the line `text` of a report column (1-based, UTF-16 units)."""
    units, wanted = 0, column - 1
    for i, c in enumerate(text):
        if units >= wanted:
            return i
        units += 2 if ord(c) > 0xFFFF else 1
    return len(text)
