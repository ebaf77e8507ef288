"""Which tests can observe a mutant in code that fills a module-level cache (issue 11, cause 3).

A function that stores into module state (`_CACHE[k] = compile(...)`, a registry) runs its
filling lines only in the first test that needs the entry; every later test reads the stored
value and never executes those lines, so coverage names just that first test. A mutant there
must also run the tests that read the state: the tests covering any function of the same file
that refers to a name the function writes (its own lookup lines included). A function under a
caching decorator (`functools.cache`) is read through the decorator, by callers anywhere: its
mutants run the whole suite, as do writes to class state, whose readers cannot be told. The
tests may keep state too: `test_state` adds those that may read what the selected ones leave.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.mutation.coverage_map import CoverageMap
from launcher.mutation.discover import read_source
from launcher.mutation.fork_refusal import _CACHING, _MUTATORS, _bound_names, _own_nodes, _root, _targets
from launcher.mutation.model import Mutant
from launcher.mutation.source_text import parse_quietly
from launcher.mutation.test_ids import stable_selection

if TYPE_CHECKING:
    from launcher.mutation.test_state import TestState

_Def = ast.FunctionDef | ast.AsyncFunctionDef
WHOLE_SUITE = "*"  # a written root whose readers cannot be found


def _outermost_def(tree: ast.Module, line: int) -> tuple[list[_Def], _Def] | None:
    """The defs around a line, outermost first (methods count as outermost of their class)."""
    chain: list[_Def] = []
    nodes: list[ast.AST] = list(tree.body)
    while nodes:
        node = next((n for n in nodes if n.lineno <= line <= (n.end_lineno or n.lineno)), None)  # type: ignore[attr-defined]
        if node is None:
            break
        if isinstance(node, _Def):
            chain.append(node)
        nodes = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]
    return (chain, chain[0]) if chain else None


def written_roots(fn: _Def) -> set[str]:
    """The module-level names a function (and what it nests) stores into; WHOLE_SUITE for class
    or otherwise untraceable state."""
    local = _bound_names(fn)
    params = [*fn.args.posonlyargs, *fn.args.args]
    is_classmethod = any(isinstance(d, ast.Name) and d.id == "classmethod" for d in fn.decorator_list)
    cls_param = params[0].arg if is_classmethod and params else None
    roots: set[str] = set()

    def add(expr: ast.expr) -> None:
        root = _root(expr)
        if root is None or root == "__class__" or root == cls_param:
            roots.add(WHOLE_SUITE)
        elif root not in local:
            roots.add(root)

    for node in _own_nodes(fn):
        if isinstance(node, ast.Global):
            roots.update(node.names)
        elif isinstance(node, _Def):  # a nested function's writes (its own locals excluded)
            roots |= {r for r in written_roots(node) if r not in local}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS:
            add(node.func.value)
        else:
            for target in _targets(node):
                if isinstance(target, ast.Attribute | ast.Subscript):
                    add(target)
    return roots


@dataclass
class CacheReaders:
    """Per sweep: widens the selection of mutants in cache-filling code (see the module doc)."""

    root: Path  # the tree the coverage map measured
    _trees: dict[str, ast.Module | None] = field(default_factory=dict)
    _readers: dict[tuple[str, int, int, int], frozenset[int] | None] = field(default_factory=dict)
    _state: TestState | None = None

    def _tree(self, rel: str) -> ast.Module | None:
        if rel not in self._trees:
            try:
                self._trees[rel] = parse_quietly(read_source(self.root / rel))
            except (OSError, SyntaxError, ValueError):
                self._trees[rel] = None
        return self._trees[rel]

    def observers(self, cov: CoverageMap, mutant: Mutant, tests: Sequence[str]) -> list[str]:
        """The tests to run for this mutant: `tests` ([] = the whole suite), widened by the readers
        of the state its code fills and by the tests that may read what the selected tests leave
        behind (`test_state`)."""
        if self._state is None:
            from launcher.mutation.test_state import TestState  # (it uses `written_roots` above)

            self._state = TestState(cov.root, cov.run.durations)
        return self._state.observers(self._readers_of(cov, mutant, tests))

    def _readers_of(self, cov: CoverageMap, mutant: Mutant, tests: Sequence[str]) -> list[str]:
        tree = self._tree(mutant.target) if tests and mutant.language == "python" else None
        found = _outermost_def(tree, mutant.line) if tree is not None else None
        if tree is None or found is None:
            return list(tests)
        chain, outer = found
        key = (mutant.target, outer.lineno, outer.col_offset, chain[-1].lineno)
        if key not in self._readers:
            self._readers[key] = _reader_lines(tree, chain, outer)
        lines = self._readers[key]
        if lines is None:
            return list(tests)
        if not lines:
            return []  # the whole suite
        readers = cov.tests_covering(mutant.target, sorted(lines))
        return list(stable_selection([*tests, *readers]))


def _reader_lines(tree: ast.Module, chain: list[_Def], outer: _Def) -> frozenset[int] | None:
    """None: not cache-filling code; empty: readers unknown (the whole suite); else the lines of
    every function of the file that refers to a name `outer` writes."""
    if any(_CACHING.search(ast.unparse(d)) for fn in chain for d in fn.decorator_list):
        return frozenset()  # read through the decorator by any caller
    roots = written_roots(outer)
    if not roots:
        return None
    if WHOLE_SUITE in roots:
        return frozenset()
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, _Def) and any(isinstance(n, ast.Name) and n.id in roots for n in ast.walk(node)):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return frozenset(lines)
