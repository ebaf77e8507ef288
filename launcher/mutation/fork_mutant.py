"""The mutated module, for the fork worker (`fork_worker`): the mutant applied to the source
text, and an import hook that serves the compiled result in place of the file.

Stdlib only and no `launcher` import, like the worker that loads it: it runs inside the project's
Python, loaded by path under a private module name.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import os
import sys
import tokenize
import types
from collections.abc import Callable
from typing import Any


def read_source(path: str) -> str:
    """As the launcher reads it (mutant offsets index this text): coding cookie, no BOM, line
    endings untouched."""
    with open(path, "rb") as fh:
        data = fh.read()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


class Stale(Exception):
    pass


def mutate(source: str, job: dict[str, Any]) -> str:
    start, end = int(job["start"]), int(job["end"])
    if source[start:end] != job["replaced"]:
        raise Stale(f"expected {job['replaced']!r} at offset {start}; the file changed")
    return source[:start] + job["replacement"] + source[end:]


# --------------------------------------------------------------------------- import hook


class MutantLoader(importlib.machinery.SourceFileLoader):
    """Loads the mutated code for one file; never reads or writes a bytecode cache for it."""

    def __init__(self, fullname: str, path: str, code: types.CodeType, source: str) -> None:
        super().__init__(fullname, path)
        self._code = code
        self._source = source

    def get_code(self, fullname: str) -> types.CodeType:
        return self._code

    def get_source(self, fullname: str) -> str:
        return self._source


class MutantFinder:
    """First on sys.meta_path: asks the other finders, and when the spec they find is the mutated
    file, hands back the same spec with the mutant's loader. Works whatever name the module is
    imported under and whichever finder (path, editable install) locates it."""

    def __init__(
        self, path: str, code: types.CodeType, source: str, real: Callable[[str], str] = os.path.realpath
    ) -> None:
        self._realpath = real
        self.real = real(path)
        self.basename = os.path.basename(path)
        self.code = code
        self.source = source
        self._busy = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if self._busy:
            return None
        self._busy = True
        try:
            spec = None
            for finder in list(sys.meta_path):
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy = False
        origin = getattr(spec, "origin", None)
        if not origin or os.path.basename(origin) != self.basename or self._realpath(origin) != self.real:
            return None
        loader = MutantLoader(fullname, origin, self.code, self.source)
        locations = spec.submodule_search_locations if spec is not None else None
        return importlib.util.spec_from_file_location(
            fullname, origin, loader=loader, submodule_search_locations=locations
        )
