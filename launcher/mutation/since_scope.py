"""Which test files can reach the files a `--since` sweep mutates (issue 11, speed).

A small `--since` sweep spends nearly all its time running the whole suite under coverage. Two
ways to name fewer test files, tried in this order:
1. a cached whole-suite coverage map measured with the very same tests: the files of the tests
   that executed any line of the changed files (`from_map`);
2. the repository's static import graph: the test files that import a changed module, directly
   or through other modules of the repository (`from_imports`).
Neither is proof: a test may reach the code through a dynamic import, a plugin, or a new call
path. The sweep therefore treats the limited run as a fast path only: a mutant it does not kill
is settled again with the whole suite's coverage (`launcher.app.mutation.phases`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from launcher.mutation.coverage_map import CoverageMap
from launcher.mutation.discover import PYTHON_SUFFIXES, is_test_file
from launcher.mutation.source_text import parse_quietly

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


@dataclass
class _Module:
    """What a module imports (dotted name, and the name taken from it; None: the whole module),
    what it defines at top level, and the names it re-exports from elsewhere."""

    imports: list[tuple[str, str | None]] = field(default_factory=list)
    defines: set[str] = field(default_factory=set)
    reexports: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, its name there)
    stars: list[str] = field(default_factory=list)  # modules of `from M import *`


def _absolute(node: ast.ImportFrom, package: str) -> str:
    base = node.module or ""
    if not node.level:
        return base
    parts = package.split(".") if package else []
    parent = parts[: max(0, len(parts) - node.level + 1)]
    return ".".join([*parent, base] if base else parent)


def _parse(root: Path, rel: str, names: list[str]) -> _Module:
    module = _Module()
    try:
        tree = parse_quietly((root / rel).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return module
    own = names[0] if names else ""
    package = own if rel.endswith("__init__.py") else ".".join(own.split(".")[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            module.imports += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            for alias in node.names:
                if alias.name == "*":
                    module.imports.append((base, None))
                    module.stars.append(base)
                else:
                    module.imports.append((base, alias.name))
                    if node in tree.body:
                        module.reexports[alias.asname or alias.name] = (base, alias.name)
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            module.defines.add(stmt.name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            module.defines |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return module


class _Graph:
    """The repository's modules and which files an import of a name really reaches: `from pkg
    import f` reaches the module defining `f`, not every module `pkg/__init__.py` imports.
    The parent packages Python also runs (`import a.b` runs `a/__init__.py`) are left out too:
    what a test calls, it names. A miss costs time, not verdicts: the sweep settles what the
    limited run does not kill with the whole suite's coverage."""

    def __init__(self, root: Path, python: Sequence[str], roots: Sequence[str]) -> None:
        self.by_name: dict[str, str] = {}
        self.modules: dict[str, _Module] = {}
        for rel in python:
            names = _module_names(rel, roots)
            for name in names:
                self.by_name.setdefault(name, rel)
            self.modules[rel] = _parse(root, rel, names)

    def owners(self, module: str, name: str, seen: set[tuple[str, str]] | None = None) -> set[str]:
        """The files an import of `name` from `module` reaches (the whole module when unsure)."""
        seen = set() if seen is None else seen
        submodule = self.by_name.get(f"{module}.{name}")
        if submodule is not None:
            return {submodule}
        rel = self.by_name.get(module)
        if rel is None or (module, name) in seen:
            return set() if rel is None else {rel}
        seen.add((module, name))
        info = self.modules[rel]
        if name in info.defines:
            return {rel}
        if name in info.reexports:
            found = self.owners(*info.reexports[name], seen)
            return found or {rel}
        for star in info.stars:
            target = self.by_name.get(star)
            if target is not None and (name in self.modules[target].defines or name in self.modules[target].reexports):
                return self.owners(star, name, seen)
        return {rel}

    def edges(self, rel: str) -> set[str]:
        found: set[str] = set()
        for module, name in self.modules[rel].imports:
            if name is None:
                found |= {self.by_name[module]} if module in self.by_name else set()
            else:
                found |= self.owners(module, name)
        return found


def from_imports(root: Path, tracked: Sequence[str], changed: Sequence[str], roots: Sequence[str]) -> list[str] | None:
    """The test files that import from a `changed` module (transitively, through the repository's
    own modules). None when a conftest.py reaches one: every test may then run it."""
    python = [f for f in tracked if f.endswith(PYTHON_SUFFIXES)]
    graph = _Graph(root, python, roots)
    edges = {rel: graph.edges(rel) for rel in python}
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
