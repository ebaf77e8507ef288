"""Text the launcher did not write, made safe to print on a terminal.

File names, task titles, notes, reasons, contract summaries and verdict text come from agents
(or from git, which reports whatever an agent named a file). Printed as they are, a newline in a
file name writes a line of its own (a fake `status: succeeded`), and an ESC moves the cursor or
erases what the launcher printed. Every place the CLI and the UI print such text goes through
`printable` (free text) or `quote_path` (a path): control characters are shown escaped, as git
shows them with `core.quotePath` (`\\n`, `\\t`, `\\033`), so what is printed is one line the
launcher wrote. `--json` keeps the exact strings (JSON escapes them itself).
"""

from __future__ import annotations

import sys
import unicodedata

_NAMED = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r"}
# Characters that reorder what a terminal shows (Trojan Source): shown escaped too.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unsafe(char: str) -> bool:
    return char in _BIDI or unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp")


def _escaped(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\{code - 0xDC00:03o}"
    if code < 0x80:
        return f"\\{code:03o}"
    try:  # the bytes the file system has for it (under a latin-1 locale, U+0098 is the byte 0x98)
        data = char.encode(sys.getfilesystemencoding(), "surrogateescape")
    except UnicodeEncodeError:
        data = char.encode("utf-8", "surrogatepass")
    return "".join(f"\\{byte:03o}" for byte in data)


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` with every control character escaped (`\\n`, `\\033`), so that it prints as
    written: no line of its own, no terminal escape sequence. `newlines=True` keeps line breaks
    (a multi-line message the launcher wrote, such as an error and its fix)."""
    if not any(_unsafe(char) for char in text):
        return text
    return "".join(char if (newlines and char == "\n") or not _unsafe(char) else _escaped(char) for char in text)


def quote_path(path: str) -> str:
    """A path as git prints it with `core.quotePath`: as it is when it holds nothing unusual,
    else in double quotes with `"`, `\\` and control characters escaped (`"a\\nb"`)."""
    if not any(_unsafe(char) or char in '"\\' for char in path):
        return path
    inner = "".join("\\" + char if char in '"\\' else _escaped(char) if _unsafe(char) else char for char in path)
    return f'"{inner}"'


def one_line(text: str, limit: int | None = None) -> str:
    """Free text on one line: runs of white space (line breaks included) become one space, every
    other control character is escaped; cut to `limit` characters with an ellipsis."""
    line = printable(" ".join(text.split()))
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    return line


__all__ = ["one_line", "printable", "quote_path"]
