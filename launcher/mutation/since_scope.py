"""Which test files can reach the files a `--since` sweep mutates (issue 11, speed).

A small `--since` sweep spends nearly all its time running the whole suite under coverage. Two
ways to name fewer test files, tried in this order:
1. a cached whole-suite coverage map measured with the very same tests: the files of the tests
   that executed any line of the changed files (`from_map`);
2. the repository's static import graph: the test files that import a changed module, directly
   or through other modules of the repository (`from_imports`).
Neither is proof: a test may reach the code through a dynamic import, a plugin, or a new call
path. The sweep therefore treats the limited run as a fast path only: a mutant it does not kill
is settled again with the whole suite's coverage (`launcher.app.mutation_phases`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from launcher.mutation.coverage_map import CoverageMap
from launcher.mutation.discover import PYTHON_SUFFIXES, is_test_file

CONFTEST = "conftest.py"


def test_files(tracked: Iterable[str]) -> list[str]:
    """The Python files of the suite (test modules, helpers and conftest files)."""
    return sorted(f for f in tracked if f.endswith(PYTHON_SUFFIXES) and is_test_file(f))


def _module_names(rel: str, roots: Sequence[str]) -> list[str]:
    """The dotted names `rel` is imported as: from the repository root and from each import root."""
    names = []
    for root in ["", *roots]:
        prefix = f"{root}/" if root else ""
        if not rel.startswith(prefix):
            continue
        parts = list(PurePosixPath(rel[len(prefix):]).with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        if parts:
            names.append(".".join(parts))
    return names


def _imported(tree: ast.AST, package: str) -> set[str]:
    """Every dotted name an import statement of the module names (`from a import b` may load the
    module `a.b`). The parent packages Python also runs (`import a.b` runs `a/__init__.py`) are
    left out: a package that imports all its modules would make every test reach every module,
    and what a test calls it names. A miss costs time, not verdicts: the sweep settles what the
    limited run does not kill with the whole suite's coverage."""
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: max(0, len(package.split(".")) - node.level + 1)] if package else []
                base = ".".join([*parent, base] if base else parent)
            names = [base, *(f"{base}.{alias.name}" if base else alias.name for alias in node.names)]
        found.update(name for name in names if name)
    return found


def _imports_of(root: Path, rel: str, names: list[str]) -> set[str]:
    try:
        tree = ast.parse((root / rel).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return set()
    package = names[0] if rel.endswith("__init__.py") and names else ".".join(names[0].split(".")[:-1]) if names else ""
    return _imported(tree, package)


def from_imports(root: Path, tracked: Sequence[str], changed: Sequence[str], roots: Sequence[str]) -> list[str] | None:
    """The test files that import any `changed` module (transitively, through the repository's
    own modules). None when a conftest.py reaches one: every test may then run it."""
    python = [f for f in tracked if f.endswith(PYTHON_SUFFIXES)]
    by_name: dict[str, str] = {}
    names_of: dict[str, list[str]] = {}
    for rel in python:
        names_of[rel] = _module_names(rel, roots)
        for name in names_of[rel]:
            by_name.setdefault(name, rel)
    edges = {rel: {by_name[n] for n in _imports_of(root, rel, names_of[rel]) if n in by_name} for rel in python}
    reaching = set(changed)
    grew = True
    while grew:  # the files whose imports reach a changed file, to a fixed point
        more = {rel for rel, deps in edges.items() if rel not in reaching and deps & reaching}
        reaching |= more
        grew = bool(more)
    suite = test_files(python)
    if any(PurePosixPath(f).name == CONFTEST and f in reaching for f in suite):
        return None
    return sorted(f for f in suite if f in reaching and PurePosixPath(f).name != CONFTEST)


def from_map(cov: CoverageMap, changed: Sequence[str]) -> list[str] | None:
    """The files of the tests that executed a line of each changed file in an earlier whole-suite
    run; None when one of them was run by no test (only at import time, or not at all)."""
    files: set[str] = set()
    for rel in changed:
        tests = cov.tests_covering(rel, cov.lines.get(rel, {}))
        if not tests:
            return None
        files |= {t.split("::", 1)[0] for t in tests}
    return sorted(files)
