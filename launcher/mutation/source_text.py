"""A mutated file's text: read as mutant offsets index it, written back in the file's encoding.

Light on purpose (stdlib only): the kill gate of `launcher mutation fix` runs as its own process
and applies mutants with these, as the generic executor does.
"""

from __future__ import annotations

import ast
import codecs
import io
import tokenize
import warnings
from pathlib import Path, PurePosixPath

PYTHON_SUFFIXES = (".py",)


def decode_source(data: bytes, name: str) -> str:
    """A file's text with its line endings untouched (mutant offsets index this string), without a
    BOM; `name` (the file's name) tells a Python file, whose PEP 263 coding cookie is honoured."""
    encoding = _encoding(name, data)
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def _encoding(name: str, data: bytes) -> str:
    if PurePosixPath(name).suffix in PYTHON_SUFFIXES:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    return "utf-8"


def mutated_bytes(path: Path, original: bytes, text: str) -> bytes:
    """Encode mutated text like the original: same codec, same BOM (`decode_source` strips it)."""
    data = text.encode(_encoding(path.name, original))
    if original.startswith(codecs.BOM_UTF8) and not data.startswith(codecs.BOM_UTF8):
        data = codecs.BOM_UTF8 + data
    return data


def parse_quietly(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse`, without the compiler's warnings about the project's code on stderr (from
    Python 3.12 on an invalid escape like `"\\d"` is a SyntaxWarning, printed by default, once per
    parse: once per mutant); SyntaxError is raised as usual."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return ast.parse(source, filename)


def compiles_quietly(source: str, filename: str) -> None:
    """Compile `source` as a module to see that it does (SyntaxError or ValueError if not),
    without the compiler's warnings on stderr (`parse_quietly`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        compile(source, filename, "exec", dont_inherit=True)
