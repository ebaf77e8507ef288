"""Tests that leave state behind for later tests (review4 mutation 02).

Coverage names the tests that execute a mutant's line. A test can also keep what that line
computed for later tests: `RECORD.append(core.f(10))` in one test, `assert RECORD == [9]` in the
next; the second never executes `f`, so coverage does not name it, yet it is the one that fails
on the mutant. A test file (or a `conftest.py` above it) with a function that writes module or
class state (the same analysis as `cache_readers.written_roots`: an assignment to a
subscript/attribute of a name not local to it, a mutating call on one, `global`) may pass state
from one of its tests to another: a selection holding one of its tests gets every test of that
file (of that conftest's directory) too. (A fixture wider than a function is handled by the
coverage run itself: its setup counts for every test using it.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from launcher.mutation.cache_readers import written_roots
from launcher.mutation.discover import read_source
from launcher.mutation.source_text import parse_quietly
from launcher.mutation.test_ids import stable_selection

CONFTEST = "conftest.py"


def writes_state(source: str) -> bool:
    """Whether a module has a function (or method) writing state that outlives its calls."""
    try:
        tree = parse_quietly(source)
    except SyntaxError:
        return True  # cannot tell: assume it may
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and written_roots(node) for node in ast.walk(tree)
    )


@dataclass
class TestState:
    """Per sweep: widens a selection by the tests that may read state its tests leave behind."""

    __test__ = False

    root: Path  # the tree the tests run in (node ids' paths are relative to it)
    node_ids: Iterable[str]  # every test of the suite (the coverage run's)
    _by_file: dict[str, list[str]] = field(default_factory=dict)
    _stateful: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for node_id in self.node_ids:
            self._by_file.setdefault(node_id.split("::", 1)[0], []).append(node_id)

    def _writes(self, rel: str) -> bool:
        if rel not in self._stateful:
            path = self.root / rel
            try:
                self._stateful[rel] = path.is_file() and writes_state(read_source(path))
            except (OSError, ValueError):
                self._stateful[rel] = False
        return self._stateful[rel]

    def _scopes(self, test_file: str) -> list[str]:
        """The test files whose tests may share state with those of `test_file`."""
        rel = PurePosixPath(test_file)
        found = [rel.as_posix()] if self._writes(rel.as_posix()) else []
        for parent in rel.parents:
            conftest = (parent / CONFTEST).as_posix().removeprefix("./")
            if self._writes(conftest):
                prefix = "" if parent.as_posix() == "." else parent.as_posix() + "/"
                found += [f for f in self._by_file if f.startswith(prefix)]
        return found

    def observers(self, tests: Sequence[str]) -> list[str]:
        """`tests` ([] = the whole suite, kept) with the tests that may read what they leave behind."""
        if not tests:
            return []
        files = {t.split("::", 1)[0] for t in tests}
        extra = [t for f in sorted(files) for scope in self._scopes(f) for t in self._by_file.get(scope, [])]
        if not extra:
            return list(tests)
        return list(stable_selection([*tests, *extra]))
