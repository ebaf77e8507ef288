"""Which later tests can read what a mutant's code leaves behind (regress16 finding 3: the cost of
confirming a narrowed survivor).

A survivor of a narrowed selection is confirmed with the tests the suite runs after its first
selected one (`selection_check`): one of them may read state the mutated code left behind. State
that outlives a test lives in a module -- a project module's globals and what they hold (a
settings object changed through its method, a class attribute, another module's attribute) --
or in the process and around it (the environment, the working directory, logging, random seeds,
files). A later test reads it only through a module it reaches as well, so the confirmation runs
the later tests that reach a module the mutated code, or the selected tests, reach:
  * a file's reach: itself, the project modules it imports (anywhere in the file, function bodies
    too; a submodule with its packages), transitively, and the other modules it imports, by
    top-level name, except standard modules without state a caller can change (`STATELESS`:
    `math`, `re`, `typing`...; `pytest` too). A call of `open` reaches the file system.
  * the mutated side: the mutated file's reach, with that of the selected tests' files and the
    `conftest.py` files above them (a test may store what the mutated code returned).
  * a later test's side: the reach of its file, the `conftest.py` files above it and every
    project file it executes (the coverage map).
  * the two sides meet in a module that can hold state: any module but the project's own modules
    whose top level has only imports, a docstring, dunder names (`__all__`) and plain functions
    (no mutable default, no decorator but a pytest mark or a function-scoped fixture) -- an empty
    `__init__.py`, a module of pure functions, a test file or `conftest.py` of plain tests and
    fixtures: what such a module's code leaves behind lives in other modules (counted themselves).
    A later test found joins the mutated side with its own reach (it may pass on what it read).
  * a file importing by name (`importlib`, `__import__`) or that cannot be parsed, a test whose
    child process coverage could not measure, and a test or target file that is not among the
    project's Python files, reach everything.
A later test reaching none of the mutated side's modules runs the same code on the same state
with or without the mutant. (Not seen: a later test reading state through a module it reaches
only by a path no import names, e.g. an object handed over through a module neither side
imports.)
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Sequence
from pathlib import PurePosixPath

from launcher.mutation.coverage_map import CoverageMap
from launcher.mutation.source_text import parse_quietly
from launcher.mutation.test_ids import function_id

EVERYTHING = "<everything>"  # reach unknown: every module
FILES = "<files>"  # the file system (a call of `open`)
CONFTEST = "conftest.py"
# Standard modules with no state a caller can change (their functions work on what they are given).
STATELESS = frozenset({
    "__future__", "abc", "array", "ast", "base64", "binascii", "bisect", "cmath", "collections",
    "colorsys", "contextlib", "copy", "dataclasses", "datetime", "difflib", "dis", "enum", "fnmatch",
    "fractions", "functools", "graphlib", "hashlib", "heapq", "hmac", "html", "inspect", "itertools",
    "json", "keyword", "math", "numbers", "operator", "pprint", "pytest", "re", "reprlib", "shlex",
    "statistics", "string", "struct", "textwrap", "time", "types", "typing", "typing_extensions",
    "unicodedata", "zlib",
})  # fmt: skip
_DYNAMIC = frozenset({"importlib", "__import__"})


def _module_name(rel: str) -> list[str]:
    parts = rel.removesuffix(".py").split("/")
    return parts[:-1] if parts[-1] == "__init__" else parts


def _holds_nothing(stmt: ast.stmt) -> bool:
    """A top-level statement that binds no state: an import, a docstring, a dunder name, a plain
    function (`_per_test` decorators only, no mutable default), or an `if`/`try` of those."""
    if isinstance(stmt, ast.Import | ast.ImportFrom | ast.Pass):
        return True
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Constant)
    if isinstance(stmt, ast.Assign | ast.AnnAssign):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return all(isinstance(t, ast.Name) and t.id.startswith("__") and t.id.endswith("__") for t in targets)
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        defaults = [*stmt.args.defaults, *(d for d in stmt.args.kw_defaults if d is not None)]
        plain = all(isinstance(d, ast.Constant | ast.Name | ast.Attribute) for d in defaults)
        return plain and all(_per_test(d) for d in stmt.decorator_list)
    if isinstance(stmt, ast.If | ast.Try):
        inner = [*stmt.body, *stmt.orelse, *getattr(stmt, "finalbody", [])]
        inner += [s for h in getattr(stmt, "handlers", []) for s in h.body]
        return all(_holds_nothing(s) for s in inner)
    return False


def _per_test(decorator: ast.expr) -> bool:
    """A decorator that keeps nothing between tests: a pytest mark, a function-scoped fixture."""
    text = ast.unparse(decorator.func if isinstance(decorator, ast.Call) else decorator)
    if text.startswith(("pytest.mark.", "mark.")):
        return True
    if text not in ("pytest.fixture", "fixture"):
        return False
    scope = [k.value for k in getattr(decorator, "keywords", []) if k.arg == "scope"]
    return all(isinstance(v, ast.Constant) and v.value == "function" for v in scope)


class ImportGraph:
    """The project's Python files and what each imports, read once (at the start of a sweep, while
    worker 1's tree holds no mutant)."""

    def __init__(self, files: Iterable[str], read: Callable[[str], str]) -> None:
        self.files = sorted({f for f in files if f.endswith(".py")})
        self._by_name: dict[str, set[str]] = {}  # every dotted suffix of a file's module path
        for rel in self.files:
            parts = _module_name(rel)
            for k in range(len(parts)):
                self._by_name.setdefault(".".join(parts[k:]), set()).add(rel)
        self._direct: dict[str, set[str]] = {}
        self.stateless: set[str] = set()  # project files that cannot hold state (the module doc)
        for rel in self.files:
            self._direct[rel] = self._imports(rel, read)
        self._reach: dict[str, frozenset[str]] = {}

    def _imports(self, rel: str, read: Callable[[str], str]) -> set[str]:
        try:
            tree = parse_quietly(read(rel))
        except (OSError, SyntaxError, ValueError):
            return {EVERYTHING}
        if all(_holds_nothing(stmt) for stmt in tree.body):
            self.stateless.add(rel)
        found: set[str] = set()
        package = _module_name(rel) if rel.endswith("/__init__.py") else _module_name(rel)[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found |= self._resolve(alias.name)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
                    base = ".".join([*up, *([node.module] if node.module else [])])
                for alias in node.names:
                    found |= self._resolve(f"{base}.{alias.name}" if base else alias.name, submodule=True)
                found |= self._resolve(base) if base else set()
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "open":
                    found.add(FILES)
                elif node.func.id == "__import__":
                    found.add(EVERYTHING)
        return found

    def _resolve(self, name: str, submodule: bool = False) -> set[str]:
        """The project files importing `name` runs (the module and its packages), else the module
        by top-level name (nothing for a stateless one); `submodule`: `name` may be an attribute."""
        parts = name.split(".")
        files = {f for k in range(1, len(parts) + 1) for f in self._by_name.get(".".join(parts[:k]), ())}
        if files or submodule:
            return files
        top = parts[0]
        if top in _DYNAMIC:
            return {EVERYTHING}
        return set() if top in STATELESS else {"module:" + top}

    def reach(self, rel: str) -> frozenset[str]:
        """The file, the project files it imports (transitively) and the other modules they import."""
        if rel not in self._reach:
            seen, todo = {rel}, [rel]
            while todo:
                for item in self._direct.get(todo.pop(), ()):
                    if item not in seen:
                        seen.add(item)
                        todo += [item] if item in self._direct else []
            self._reach[rel] = frozenset(seen)
        return self._reach[rel]

    def knows(self, rel: str) -> bool:
        """Whether `rel` is one of the project's Python files (a test id naming a file it does
        not know, e.g. a suite run from another directory, reaches everything)."""
        return rel in self._direct

    def conftests(self, test_file: str) -> list[str]:
        """The `conftest.py` files above a test file (they run with it)."""
        return [c for p in PurePosixPath(test_file).parents
                if (c := (p / CONFTEST).as_posix().removeprefix("./")) in self._direct]  # fmt: skip


class StateReach:
    """Per coverage map: the later tests that may read what a mutant leaves behind (the module doc)."""

    def __init__(self, graph: ImportGraph, cov: CoverageMap) -> None:
        self.graph = graph
        self._runs: dict[str, set[str]] = {}  # test (node id and function id) -> the files it executes
        for lines in (cov.lines, cov.child_lines):
            for rel, by_line in lines.items():
                for tests in by_line.values():
                    for test in tests:
                        self._runs.setdefault(test, set()).add(rel)
                        self._runs.setdefault(function_id(test), set()).add(rel)
        self._anywhere = set(cov.run.unmeasured_children)
        self._memo: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[str]] = {}

    def _side(self, tests: Sequence[str], also: Iterable[str] = ()) -> frozenset[str]:
        """The modules that can hold state reached from these tests' files and `also`."""
        files = set(also)
        for test in tests:
            test_file = test.split("::", 1)[0]
            files |= {test_file, *self.graph.conftests(test_file)}
        reached = frozenset().union(*(self.graph.reach(f) for f in files))
        return reached - self.graph.stateless

    def readers(self, target: str, selected: Sequence[str], later: Sequence[str]) -> list[str]:
        """Those of `later` that may read what the mutated file's code, run by `selected`, leaves behind."""
        key = (target, tuple(selected), tuple(later))
        if key not in self._memo:
            source = self._side(selected, [target])
            found: set[str] = set()
            grew = True
            while grew:  # a reader may pass on what it read: what it reaches joins the mutated side
                grew = False
                for test in later:
                    side = self._side([test], self._runs.get(test, set()))
                    anywhere = test in self._anywhere or function_id(test) in self._anywhere
                    anywhere |= not self.graph.knows(target) or not self.graph.knows(test.split("::", 1)[0])
                    if test not in found and (anywhere or EVERYTHING in source | side or side & source):
                        found.add(test)
                        source |= side
                        grew = True
            self._memo[key] = [t for t in later if t in found]
        return self._memo[key]
