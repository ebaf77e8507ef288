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
from collections.abc import Iterable

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


def printable(text: str, *, newlines: bool = False, tabs: bool = False) -> str:
    """`text` with every control character escaped (`\\n`, `\\033`), so that it prints as
    written: no line of its own, no terminal escape sequence. `newlines=True` keeps line breaks
    (a multi-line message the launcher wrote, such as an error and its fix); `tabs=True` keeps
    tabs (a log shown as it was written: neither moves the cursor back over another line)."""
    if not any(_unsafe(char) for char in text):
        return text
    kept = ("\n" if newlines else "") + ("\t" if tabs else "")
    return "".join(char if char in kept or not _unsafe(char) else _escaped(char) for char in text)


def quote_path(path: str) -> str:
    """A path as git prints it with `core.quotePath`: as it is when it holds nothing unusual,
    else in double quotes with `"`, `\\` and control characters escaped (`"a\\nb"`)."""
    if not any(_unsafe(char) or char in '"\\' for char in path):
        return path
    inner = "".join("\\" + char if char in '"\\' else _escaped(char) if _unsafe(char) else char for char in path)
    return f'"{inner}"'


def quote_path_bytes(path: str) -> str:
    """A path as git prints it by default (`core.quotePath=true`): in double quotes, with every
    byte outside printable ASCII written as an octal escape (`"caf\\303\\251.txt"`), so two names
    that print alike but are spelled with other bytes are told apart."""
    inner = "".join("\\" + char if char in '"\\' else char if " " <= char < "\x7f" else _escaped(char) for char in path)
    return f'"{inner}"'


def _form(name: str) -> str:
    return next((form for form in ("NFC", "NFD") if unicodedata.is_normalized(form, name)), "mixed")


def normalisation_twins(claimed: Iterable[str], changed: Iterable[str]) -> list[tuple[str, str]]:
    """(claimed, changed) pairs of different names that are the same text once Unicode-normalised:
    `café` typed as models and most keyboards write it (U+00E9, NFC) and `café` as macOS names a
    file (e + U+0301, NFD). They print alike, but git keeps a file name as bytes and a Linux file
    system holds both as two files, so one is not the other."""
    by_text: dict[str, list[str]] = {}
    for name in changed:
        by_text.setdefault(unicodedata.normalize("NFC", name), []).append(name)
    return [(a, b) for a in claimed for b in by_text.get(unicodedata.normalize("NFC", a), []) if a != b]


def twins_note(pairs: Iterable[tuple[str, str]]) -> str:
    """What to say of `normalisation_twins`: both names as git spells their bytes, and the fix."""
    said = "; ".join(f"{quote_path_bytes(a)} (claimed, {_form(a)}) and {quote_path_bytes(b)} (changed, {_form(b)})"
                     for a, b in pairs)  # fmt: skip
    return (f"{said} differ only in Unicode normalisation: git keeps file names as bytes, so they are two "
            "names (claim a file as git lists it)")


def one_line(text: str, limit: int | None = None) -> str:
    """Free text on one line: runs of white space (line breaks included) become one space, every
    other control character is escaped; cut to `limit` characters with an ellipsis."""
    line = printable(" ".join(text.split()))
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    return line


__all__ = ["normalisation_twins", "one_line", "printable", "quote_path", "quote_path_bytes", "twins_note"]
