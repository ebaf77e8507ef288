"""git's `working-tree-encoding` names, read with Python's codecs.

git hands the attribute's value to iconv (and handles `UTF-16LE-BOM`/`UTF-16BE-BOM` itself), so
a repository may name an encoding in any spelling iconv takes: `UTF16LE`, `UCS-2LE`, `UCS-2`,
`UNICODELITTLE`, `CP1252`, `UTF-16LE//TRANSLIT`... Python's codecs know only some of them. The
launcher reads such a file as git would turn it into a blob (git/filters.py, to tell git's own
conversion from a foreign filter's work): `as_git_stores` lists what git may have made of it.

Names with no byte order (`UCS-2`, `UCS-4`, `UNICODE`) follow the platform's iconv (glibc: the
host's order for UCS-2, big-endian for UCS-4): both orders are candidates, since either is git's
own conversion on some machine and neither is a filter's work.
"""

from __future__ import annotations

import codecs
import re

_BOM = "\ufeff"

# Normalised name (upper case, letters and digits only) -> Python codecs to try, and whether git
# drops a leading byte-order mark when it reads the file (`-BOM` names; `UTF-16`/`UTF-32`, whose
# Python codecs drop it themselves).
_UNICODE: dict[str, tuple[tuple[str, ...], bool]] = {
    "UTF16LEBOM": (("utf-16-le",), True),
    "UTF16BEBOM": (("utf-16-be",), True),
    "UTF32LEBOM": (("utf-32-le",), True),
    "UTF32BEBOM": (("utf-32-be",), True),
    "UTF16": (("utf-16", "utf-16-be"), False),
    "UNICODE": (("utf-16", "utf-16-be"), False),
    "CSUNICODE": (("utf-16", "utf-16-be"), False),
    "UTF32": (("utf-32", "utf-32-be"), False),
    "UTF16LE": (("utf-16-le",), False),
    "UCS2LE": (("utf-16-le",), False),
    "UNICODELITTLE": (("utf-16-le",), False),
    "UTF16BE": (("utf-16-be",), False),
    "UCS2BE": (("utf-16-be",), False),
    "UNICODEBIG": (("utf-16-be",), False),
    "UCS2": (("utf-16-le", "utf-16-be"), False),
    "ISO10646UCS2": (("utf-16-le", "utf-16-be"), False),
    "CSUNICODE11": (("utf-16-le", "utf-16-be"), False),
    "UTF32LE": (("utf-32-le",), False),
    "UCS4LE": (("utf-32-le",), False),
    "UTF32BE": (("utf-32-be",), False),
    "UCS4BE": (("utf-32-be",), False),
    "UCS4": (("utf-32-be", "utf-32-le"), False),
    "ISO10646UCS4": (("utf-32-be", "utf-32-le"), False),
    "UTF8": (("utf-8",), False),
}


def python_codecs(encoding: str) -> tuple[tuple[str, ...], bool] | None:
    """The Python codecs that read `encoding` (a `working-tree-encoding` value) as git's iconv
    does, and whether a leading byte-order mark is dropped; None when Python knows no such name."""
    name = encoding.strip().split("//", 1)[0]  # iconv's `//TRANSLIT`, `//IGNORE` suffixes
    key = re.sub(r"[^A-Z0-9]", "", name.upper())
    if key in _UNICODE:
        return _UNICODE[key]
    for spelling in (name, name.replace("_", "-"), key.lower()):
        try:
            found = codecs.lookup(spelling)
        except LookupError:
            continue
        return (found.name,), False
    return None


def as_git_stores(data: bytes, encoding: str) -> list[bytes] | None:
    """`data` (a file's bytes in `encoding`) as UTF-8, as git's `working-tree-encoding`
    conversion may have stored it: one candidate per byte order git could have read. None when
    Python cannot read it (an iconv name it does not know, or bytes its codec refuses)."""
    found = python_codecs(encoding)
    if found is None:
        return None
    names, drop_bom = found
    candidates = []
    for name in names:
        try:
            text = data.decode(name)
        except (UnicodeError, LookupError):
            continue
        if drop_bom and text.startswith(_BOM):
            text = text[1:]
        candidates.append(text.encode("utf-8", "surrogatepass"))
    return candidates or None
