"""What a mutant's verdict depends on: the key under which it is cached and resumed.

A cached or resumed verdict may stand only if nothing that could change it changed. A mutant
run can reach any code of the project, not only what the clean run executed (a mutated branch
calls a function no test called before), so the key covers the content of every file of the
state the sweep reads (tracked and untracked, not ignored: sources, test helpers, conftests,
the pytest configuration, data files), plus the mutant, the command, the selected tests and
the executor the mutant's job goes to (a fork judges in memory, the generic executor on disk).

The one narrowing: the bodies of the tests that were not selected. A test module pytest
collected (a `.py` file whose collected tests are functions or methods, not doctests) and that
no other file names (nobody imports it, no `-p`, no `pytest_plugins`) counts by its *skeleton*
(its code with the collected test functions and test methods left out); the modules of the
selected tests count in full. So writing or editing a test re-runs only the mutants that test
module's tests cover (the coverage of a new test changes their selection), while an edit
anywhere else re-runs everything: a sound key, still useful for incremental sweeps.
Assumed: a collected test function's decorators (evaluated at import) do not change other tests.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from launcher.mutation.model import Mutant
from launcher.mutation.source_text import parse_quietly

# Bump when what a key covers changes, or how a mutant is judged: older entries then miss.
# /3: a narrowed selection's verdict is checked against the suite around it (`selection_check`);
# /4: the executor route is in the key (before it, a child-process test's mutant was judged in a
# fork, where the child ran the unmutated file: earlier verdicts may be false kills).
# /5: the tests that decided the verdict are in the key, their files in full (before it, a
# survivor confirmed with later tests was kept when only a later test file changed).
# /6: the pytest flags, the interpreter's identity (not only its path) and the environment the
# tests read are in the key; a symlink counts with what it resolves to, a submodule (a directory
# entry) with its files (before it, a submodule bump or a link target's edit reused verdicts).
# /7: a pytest run that exits 0 without finishing its tests (`pytest.exit(returncode=0)`, or
# `os._exit(0)` in a fresh process) is Killed (before it, such mutants could be cached Survived).
# /8: each run in a worker tree starts without the files earlier runs wrote there (`tree_leftovers`;
# before it, code that reads a cache it wrote beside itself gave its mutants false survivals).
SCHEMA = "launcher-result-key/8"
_NOT_STRIPPED = ("conftest.py", "__init__.py")


class TreeFiles:
    """The files of one tree (worker 1's: base commit plus overlay), each read once."""

    def __init__(self, root: Path, files: Sequence[str]) -> None:
        self.root = root
        self.files = sorted(set(files))
        self._hashes: dict[str, str] = {}
        self._text: dict[str, bytes] = {}

    def data(self, rel: str) -> bytes:
        """The content (a symlink: its link text and what it resolves to; a directory entry, a
        submodule: its files; absent: empty). Python files are kept."""
        if rel in self._text:
            return self._text[rel]
        path = self.root / rel
        if path.is_symlink():
            data = b"symlink:" + os.fsencode(os.readlink(path)) + b"\0" + _resolved(path)
        elif path.is_dir():
            data = b"directory:" + _directory_digest(path)
        else:
            data = path.read_bytes() if path.is_file() else b""
        if rel.endswith(".py"):
            self._text[rel] = data
        return data

    def hash(self, rel: str) -> str:
        if rel not in self._hashes:
            self._hashes[rel] = hashlib.sha256(self.data(rel)).hexdigest()
        return self._hashes[rel]


# What a directory's digest leaves out: its own repository and what running its code writes there.
_NOT_CONTENT = frozenset({".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".launcher"})
_CONTENT_BOUND = 256 << 20


def _resolved(link: Path) -> bytes:
    """What a symlink resolves to, by content (a file, a directory's files), or that it does not."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return b"dangling"
    if target.is_dir():
        return b"directory:" + _directory_digest(target)
    try:
        return b"file:" + hashlib.sha256(target.read_bytes()).hexdigest().encode()
    except OSError:
        return b"unreadable"


def _directory_digest(root: Path) -> bytes:
    """A directory's files (names and content; symlinks by their text), e.g. a submodule's work
    tree: its checked-out commit and any edit in it. Bytecode and tool caches are left out; past
    `_CONTENT_BOUND` bytes read, files count by size and mtime (a link to a data set)."""
    digest = hashlib.sha256()
    read = 0
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_CONTENT)
        links = [d for d in dirs if os.path.islink(os.path.join(here, d))]  # (not walked into)
        for name in sorted([*files, *links]):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(here) / name
            rel = path.relative_to(root).as_posix()
            try:
                if path.is_symlink():
                    data = b"symlink:" + os.fsencode(os.readlink(path))
                elif read > _CONTENT_BOUND:
                    stat = path.stat()
                    data = f"stat:{stat.st_size}:{stat.st_mtime_ns}".encode()
                else:
                    data = path.read_bytes()
                    read += len(data)
            except OSError:
                data = b"unreadable"
            digest.update(os.fsencode(f"\0{rel}\0") + hashlib.sha256(data).digest())
    return digest.hexdigest().encode()


def collected_tests(test_ids: Iterable[str]) -> dict[str, set[tuple[str, ...]]]:
    """Test module -> the collected tests' name paths (`("test_f",)`, `("TestC", "test_m")`); a
    module with a doctest or a test of another kind is left out (it counts in full)."""
    found: dict[str, set[tuple[str, ...]]] = {}
    mixed: set[str] = set()
    for node_id in test_ids:
        path, sep, rest = node_id.partition("::")
        if not sep or not path.endswith(".py") or PurePosixPath(path).name in _NOT_STRIPPED:
            continue
        names = tuple(part.split("[", 1)[0] for part in rest.split("::"))
        if len(names) > 2 or any(not n.isidentifier() for n in names):  # a doctest, nested classes...
            mixed.add(path)
        else:
            found.setdefault(path, set()).add(names)
    return {path: names for path, names in found.items() if path not in mixed}


def _skeleton(source: bytes, tests: set[tuple[str, ...]]) -> str | None:
    """The module without its collected test functions and test methods; None when that is not
    safe to say (it does not parse, or its remaining code names a test it left out)."""
    try:
        tree = parse_quietly(source)
    except (SyntaxError, ValueError):
        return None
    functions = {names[0] for names in tests if len(names) == 1}
    methods = {names for names in tests if len(names) == 2}
    left_out: set[str] = set()
    body: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in functions:
            left_out.add(node.name)
            continue
        if isinstance(node, ast.ClassDef) and any(cls == node.name for cls, _ in methods):
            kept: list[ast.stmt] = []
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and (node.name, item.name) in methods:
                    left_out.add(item.name)
                else:
                    kept.append(item)
            node.body = kept or [ast.Pass()]
        body.append(node)
    tree.body = body
    for each in ast.walk(tree):
        name = each.id if isinstance(each, ast.Name) else each.attr if isinstance(each, ast.Attribute) else None
        if name in left_out:
            return None
    return ast.dump(tree)


def project_digest(tree: TreeFiles, test_ids: Iterable[str]) -> tuple[str, frozenset[str]]:
    """The digest of the whole state (`tree`'s files), test modules by their skeleton where that
    is safe; and the test modules counted by skeleton (`TestDigest` adds the selected ones in full)."""
    candidates = collected_tests(test_ids)
    candidates = {path: names for path, names in candidates.items() if path in set(tree.files)}
    named = _named_elsewhere(tree, candidates)
    digest = hashlib.sha256(SCHEMA.encode())
    skeletal: set[str] = set()
    for rel in tree.files:
        part = tree.hash(rel)
        if rel in candidates and rel not in named:
            skeleton = _skeleton(tree.data(rel), candidates[rel])
            if skeleton is not None:
                part = "skeleton:" + hashlib.sha256(skeleton.encode()).hexdigest()
                skeletal.add(rel)
        digest.update(os.fsencode(f"\0{rel}\0{part}"))
    return digest.hexdigest(), frozenset(skeletal)


def state_digest(tree: TreeFiles, command: str) -> str:
    """Every file of the state in full and the test command: what all of a sweep's result keys are
    computed from besides each mutant and its selected tests. A key that differs while this is
    the same was made by another launcher version (or for another selection of tests)."""
    digest = hashlib.sha256(os.fsencode(command))
    for rel in tree.files:
        digest.update(os.fsencode(f"\0{rel}\0{tree.hash(rel)}"))
    return digest.hexdigest()


def _named_elsewhere(tree: TreeFiles, modules: Iterable[str]) -> set[str]:
    """The modules whose name another file mentions (an import of a test module's helpers, a
    plugin by name): their whole content counts for every mutant."""
    by_stem: dict[str, list[str]] = {}
    for rel in modules:
        by_stem.setdefault(PurePosixPath(rel).stem, []).append(rel)
    if not by_stem:
        return set()
    pattern = re.compile(rb"\b(" + b"|".join(re.escape(s.encode()) for s in sorted(by_stem)) + rb")\b")
    named: set[str] = set()
    for rel in tree.files:
        data = tree.data(rel)
        if len(data) > 4 << 20 or b"\0" in data[:8192]:  # binary or huge: no module names in it
            continue
        for found in {m.decode() for m in pattern.findall(data)}:
            named.update(other for other in by_stem[found] if other != rel)
    return named


class TestDigest:
    """Content hashes of the test files behind a selection, on top of the project's digest (the
    cache-key ingredients besides the mutant and the command)."""

    __test__ = False

    def __init__(self, tree: TreeFiles, test_files: Sequence[str], project: str,
                 skeletal: frozenset[str] = frozenset()) -> None:  # fmt: skip
        self.tree = tree
        self.all_files = sorted(set(test_files) | skeletal)
        self.project = project

    def files_for(self, tests: Sequence[str]) -> list[str]:
        if not tests:
            return self.all_files
        files: set[str] = set()
        for test in tests:
            rel = PurePosixPath(test.split("::", 1)[0])
            files.add(rel.as_posix())
            files.update((parent / "conftest.py").as_posix().removeprefix("./") for parent in rel.parents)
        return sorted(files)

    def digest(self, tests: Sequence[str], decided: Sequence[str] | None = None) -> str:
        """The files of `tests` and, when another run decided the verdict, of `decided` ([] = all)."""
        files = sorted({*self.files_for(tests), *(self.files_for(decided) if decided is not None else [])})
        parts = [self.project, *(f"{f}={self.tree.hash(f)}" for f in files)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def cache_key(mutant: Mutant, tests: Sequence[str], command: str, digest: TestDigest, executor: str,
              decided: Sequence[str] | None = None) -> str:  # fmt: skip
    """Stable id, the mutated scope's hash, the command, the selected tests, the tests whose run
    decided the verdict (`decided`, when not the selection: a survivor confirmed with the later
    tests, a kill widened to the earlier ones, `selection_check`), all their files' content and
    the rest of the project's, and the executor the job goes to (`sweep.executor_route`: in
    memory or on disk): any change to these re-runs the mutant."""
    decided = None if decided is None or list(decided) == list(tests) else list(decided)
    parts = [SCHEMA, mutant.id, mutant.scope_hash, mutant.replacement, command, list(tests),
             digest.digest(tests, decided), executor, decided]  # fmt: skip
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]
