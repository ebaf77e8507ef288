"""Per-test line coverage and baseline timings: which tests execute a mutant's line (DESIGN 11).

One run of the suite under coverage.py on the clean tree gives three things at once: whether the
suite passes (sanity), how long each test takes (the timeout baseline), and, per line of the
mutated files, the pytest node ids that executed it. Contexts are switched by a tiny pytest
plugin (`coverage.Coverage.current().switch_context(nodeid)` around each test, setup and teardown
included), so they are exact node ids and need no mapping back. Lines run outside any test
(imports at collection time, module bodies) get the empty context "": a mutant there is
"import-time covered" and needs the whole suite in a fresh process. The setup of a fixture wider
than a function counts for every test using the fixture, and the tests' Python child processes
are measured too, under the test's context (`coverage_plugin`); a test whose child could not be
measured is selected for every mutant.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from launcher import process
from launcher.git.import_roots import python_path
from launcher.mutation.coverage_plugin import (
    CONTEXT_ENV,
    FIXTURE_PREFIX,
    IMPORT_CONTEXT,
    ONLY_ENV,
    PLUGIN,
    PLUGIN_SOURCE,
    REPORT_ENV,
    SITECUSTOMIZE_SOURCE,
    SKIP_ENV,
    SUBPROCESS_RC_ENV,
)
from launcher.mutation.discover import read_source
from launcher.mutation.model import Mutant
from launcher.mutation.run_env import WORKER_MARKER_ENV, child_env
from launcher.mutation.source_text import parse_quietly
from launcher.mutation.test_ids import function_id, stable_selection


@dataclass
class SuiteRun:
    """The clean suite: outcome, per-test durations, wall time."""

    exit_code: int
    durations: dict[str, float]
    failed: list[str]
    wall_s: float
    output_tail: str = ""
    timed_out: bool = False
    first_error: str = ""  # the first exception line of the whole output (not just the tail)
    # Tests that started a child process coverage could not measure (any line may run there).
    unmeasured_children: list[str] = field(default_factory=list)
    # Those of them whose child imports the project from disk (not a fork of the test process).
    fresh_children: list[str] = field(default_factory=list)
    # The environment variables the pytest process read (`run_identity.env_digest`'s names), and
    # the digest of their values (and the fixed list's) when the map was measured.
    env_read: list[str] = field(default_factory=list)
    env_key: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.failed


@dataclass(frozen=True)
class Selection:
    tests: tuple[str, ...]  # stable ids (`test_ids`) of the tests that execute the mutant's statement
    import_time: bool  # also executed outside any test (import, collection)
    # A selected test runs the statement in a child process that imports the file from disk (a
    # CLI test, a spawn worker), or may (an unmeasured child): only a mutant on disk reaches it.
    in_child: bool = False

    @property
    def covered(self) -> bool:
        return bool(self.tests) or self.import_time


@dataclass
class CoverageMap:
    root: Path  # the tree the suite ran in (file paths below are relative to it)
    lines: dict[str, dict[int, frozenset[str]]]  # file -> line -> contexts
    run: SuiteRun
    # file -> line -> the tests whose child processes (measured) executed it
    child_lines: dict[str, dict[int, frozenset[str]]] = field(default_factory=dict)
    _statements: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)

    def contexts(self, rel: str, line: int) -> frozenset[str]:
        return self.lines.get(rel, {}).get(line, frozenset())

    def select(self, mutant: Mutant) -> Selection:
        """The tests covering any line of the statement(s) the mutant touches. Coverage records
        one line of a multi-line statement, which need not be the mutated one."""
        own = self._statements.get(mutant.target)
        if own is None:
            own = self._statements[mutant.target] = statement_lines(read_source(self.root / mutant.target))
        found: set[str] = set()
        in_child: set[str] = set()
        for line in range(mutant.line, mutant.end_line + 1):
            lo, hi = own.get(line, (line, line))
            for n in range(lo, hi + 1):
                found |= self.contexts(mutant.target, n)
                in_child |= self.child_lines.get(mutant.target, {}).get(n, frozenset())
        if self.run.unmeasured_children:  # their children may run this line: never NoCoverage
            found |= set(self.run.unmeasured_children)
        in_child |= set(self.run.fresh_children)
        tests = stable_selection(found - {IMPORT_CONTEXT})
        return Selection(tests, IMPORT_CONTEXT in found, bool(tests and in_child & found))

    def tests_covering(self, rel: str, lines: Iterable[int]) -> set[str]:
        """The node ids that execute any of these lines of a file (not import time)."""
        found: set[str] = set()
        for n in lines:
            found |= self.contexts(rel, n)
        return found - {IMPORT_CONTEXT}

    def baseline(self, tests: Iterable[str]) -> float:
        """Seconds the given tests took on the clean tree ([] = the whole run)."""
        chosen = list(tests)
        if not chosen:
            return self.run.wall_s
        # A stable id may stand for a test function: all its cases count.
        wanted = set(chosen)
        return sum(d for t, d in self.run.durations.items() if t in wanted or function_id(t) in wanted)

    @property
    def test_ids(self) -> list[str]:
        return sorted(self.run.durations)


def statement_lines(source: str) -> dict[int, tuple[int, int]]:
    """Line -> (first, last) line of the innermost statement owning it. A compound statement owns
    its header (decorators to the line before its body), not its body."""
    try:
        tree = parse_quietly(source)
    except SyntaxError:
        return {}
    owners: dict[int, tuple[int, int]] = {}
    for node in ast.walk(tree):  # breadth first: inner statements overwrite outer ones
        if not isinstance(node, ast.stmt):
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        last = node.end_lineno or node.lineno
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            last = max(node.lineno, body[0].lineno - 1)
        for n in range(first, last + 1):
            owners[n] = (first, last)
    return owners


_ERROR_LINE = re.compile(r"^(?:E\s+)?([\w.]*(?:Error|Exception|Exit): .*\S)\s*$", re.MULTILINE)


def first_error(output: str) -> str:
    """The first exception line in a pytest run's output (`E   ModuleNotFoundError: ...`)."""
    found = _ERROR_LINE.search(output)
    return found.group(1)[:300] if found else ""


@dataclass
class _Report:
    """What the plugin wrote at the end of the run (`coverage_plugin`)."""

    durations: dict[str, float]
    failed: list[str]
    exitstatus: int | None
    fixture_users: dict[str, list[str]] = field(default_factory=dict)
    unmeasured: list[str] = field(default_factory=list)  # contexts whose child could not be measured
    fresh: list[str] = field(default_factory=list)  # those whose child imports the project from disk
    env_read: list[str] = field(default_factory=list)  # the environment variables read (`NAME?`: presence)

    def tests_of(self, context: str) -> frozenset[str]:
        """The node ids a coverage context stands for: a wider fixture's context means every test
        that used the fixture (all tests, as import time, if none is known)."""
        if not context.startswith(FIXTURE_PREFIX):
            return frozenset({context})
        users = self.fixture_users.get(context.removeprefix(FIXTURE_PREFIX))
        return frozenset(users) if users else frozenset({IMPORT_CONTEXT})


def _read_report(path: Path) -> _Report:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _Report({}, [], None)
    tests = data.get("tests", {})
    durations = {k: float(v.get("duration", 0.0)) for k, v in tests.items()}
    failed = sorted(k for k, v in tests.items() if v.get("failed"))
    users = {str(k): [str(t) for t in v] for k, v in (data.get("fixture_users") or {}).items()}
    unmeasured = [str(c) for c in data.get("unmeasured_children") or []]
    fresh = [str(c) for c in data.get("fresh_children") or []]
    env_read = [str(n) for n in data.get("env_read") or []]
    return _Report(durations, failed, data.get("exitstatus"), users, unmeasured, fresh, env_read)


def _read_coverage(data_files: Sequence[Path], root: Path, report: _Report) -> dict[str, dict[int, frozenset[str]]]:
    """Per file and line, the node ids (or "") that executed it, from the run's data file and (or
    only) its child processes' files."""
    from coverage import CoverageData  # imported here: only sweeps need it

    merged: dict[str, dict[int, set[str]]] = {}
    real_root = root.resolve()
    for data_file in data_files:
        data = CoverageData(basename=str(data_file))
        data.read()
        for measured in data.measured_files():
            path = Path(measured).resolve()
            if not path.is_relative_to(real_root):
                continue
            by_line = merged.setdefault(path.relative_to(real_root).as_posix(), {})
            for n, contexts in data.contexts_by_lineno(measured).items():
                if n > 0:
                    for context in contexts:
                        by_line.setdefault(n, set()).update(report.tests_of(context))
    return {rel: {n: frozenset(c) for n, c in by_line.items()} for rel, by_line in merged.items()}


def _spawners(report: _Report, contexts: Sequence[str]) -> list[str]:
    """The tests the contexts that started a child stand for (all, for one outside any test)."""
    spawners = {t for c in contexts for t in report.tests_of(c)}
    return sorted(report.durations if IMPORT_CONTEXT in spawners else spawners)


async def measure(
    root: Path,
    files: Sequence[str],
    *,
    python: str,
    pytest_args: Sequence[str] = (),
    timeout: float | None = 3600,
    pycache_dir: Path | None = None,
    roots: Sequence[str] = (),
    only_tests: Sequence[str] | None = None,
    skip_tests: Sequence[str] = (),
) -> CoverageMap:
    """Run the pytest suite once in `root` under coverage, measuring only `files` (`pytest_args`:
    the sweep's `plugin_overrides`, say; `roots`: its `import_roots`; `only_tests`: run only the
    tests of these repo-relative test files; `skip_tests`: test files not even to collect)."""
    work = Path(tempfile.mkdtemp(prefix="launcher-cov-"))
    try:
        (work / f"{PLUGIN}.py").write_text(PLUGIN_SOURCE, encoding="utf-8")
        # (An empty include would measure everything: name a file that does not exist instead.)
        include = "\n    ".join(str((root / f).resolve()) for f in files) or str(work / "nothing.py")
        rc = work / "coveragerc"
        rc.write_text(
            f"[run]\nbranch = false\ndata_file = {work / 'data'}\ninclude =\n    {include}\n", encoding="utf-8"
        )
        # The tests' Python child processes: measured by `sitecustomize`, under the context the
        # plugin passes down (coverage.py expands the variable), each into a file of its own.
        (work / "sitecustomize.py").write_text(SITECUSTOMIZE_SOURCE, encoding="utf-8")
        (work / "children").mkdir()
        child_rc = work / "children.coveragerc"
        child_rc.write_text(
            f"[run]\nbranch = false\nparallel = true\ndata_file = {work / 'children' / 'data'}\n"
            f"context = ${{{CONTEXT_ENV}}}\ninclude =\n    {include}\n", encoding="utf-8"
        )  # fmt: skip
        report = work / "tests.json"
        extra = {**python_path(root, roots, str(work)), REPORT_ENV: str(report), SUBPROCESS_RC_ENV: str(child_rc),
                 WORKER_MARKER_ENV: str(root)}  # (the tree's worker kills what the run leaves behind)  # fmt: skip
        if only_tests is not None:
            extra[ONLY_ENV] = json.dumps(sorted(os.path.realpath(root / f) for f in only_tests))
            extra[SKIP_ENV] = json.dumps(sorted(os.path.realpath(root / f) for f in skip_tests))
        env = child_env(extra, pycache_dir=pycache_dir)
        argv = [python, "-m", "coverage", "run", f"--rcfile={rc}", "-m", "pytest", "-q", "-rfE",
                "-p", "no:cacheprovider", "-p", PLUGIN, *pytest_args]  # fmt: skip
        done = await process.run(argv, cwd=root, env=env, timeout=timeout)
        found = _read_report(report)
        code = done.returncode if found.exitstatus is None else found.exitstatus
        tail = (done.text + done.err)[-4000:]
        if done.returncode not in (0, 1) and code == 0:
            code = done.returncode  # coverage itself failed after a green pytest
        # (one started outside any test, at collection say: every test may depend on it)
        unmeasured, fresh = (_spawners(found, contexts) for contexts in (found.unmeasured, found.fresh))
        run = SuiteRun(code, found.durations, found.failed, done.duration_s, tail, done.timed_out,
                       first_error(done.text + done.err), unmeasured, fresh, found.env_read)  # fmt: skip
        children = [f for f in sorted((work / "children").glob("data.*")) if f.is_file()]
        data_files = [f for f in [work / "data"] if f.is_file()] + children
        return CoverageMap(root, _read_coverage(data_files, root, found), run,
                           _read_coverage(children, root, found))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
