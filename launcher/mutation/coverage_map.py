"""Per-test line coverage and baseline timings: which tests execute a mutant's line (DESIGN 11).

One run of the suite under coverage.py on the clean tree gives three things at once: whether the
suite passes (sanity), how long each test takes (the timeout baseline), and, per line of the
mutated files, the pytest node ids that executed it. Contexts are switched by a tiny pytest
plugin (`coverage.Coverage.current().switch_context(nodeid)` around each test, setup and teardown
included), so they are exact node ids and need no mapping back. Lines run outside any test
(imports at collection time, module bodies) get the empty context "": a mutant there is
"import-time covered" and needs the whole suite in a fresh process.
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
from launcher.mutation.discover import read_source
from launcher.mutation.model import Mutant
from launcher.mutation.run_env import child_env
from launcher.mutation.test_ids import function_id, stable_selection

PLUGIN = "_launcher_mutation_plugin"
REPORT_ENV = "LAUNCHER_MUTATION_TESTS"
ONLY_ENV = "LAUNCHER_MUTATION_ONLY"  # a JSON list of test files: run only their tests (`--since`)
SKIP_ENV = "LAUNCHER_MUTATION_SKIP"  # a JSON list of test files not to collect at all
IMPORT_CONTEXT = ""
PLUGIN_SOURCE = f'''
import json, os
import pytest
try:
    import coverage
except ImportError:
    coverage = None

_tests = {{}}


def _switch(context):
    cov = coverage.Coverage.current() if coverage is not None else None
    if cov is not None:
        cov.switch_context(context)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _switch(item.nodeid)
    try:
        yield
    finally:
        _switch("")


if int(pytest.__version__.split(".")[0]) >= 7:
    _skip = set(json.loads(os.environ.get("{SKIP_ENV}") or "[]"))

    def pytest_ignore_collect(collection_path):
        # The suite's other test files are not even imported (collection is most of a small run).
        if os.path.realpath(str(collection_path)) in _skip:
            return True
        return None


def pytest_collection_modifyitems(session, config, items):
    # The whole collection still runs (the project's own configuration decides what a test is);
    # only the tests of the chosen files run.
    only = os.environ.get("{ONLY_ENV}")
    if not only:
        return
    wanted = set(json.loads(only))
    kept, dropped = [], []
    for item in items:
        path = str(getattr(item, "path", None) or item.fspath)
        (kept if os.path.realpath(path) in wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_runtest_logreport(report):
    entry = _tests.setdefault(report.nodeid, {{"duration": 0.0, "failed": False}})
    entry["duration"] += report.duration
    entry["failed"] = entry["failed"] or bool(report.failed)


def pytest_collectreport(report):
    if report.failed:
        _tests[report.nodeid or "<collection>"] = {{"duration": 0.0, "failed": True}}


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("{REPORT_ENV}")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({{"tests": _tests, "exitstatus": int(exitstatus)}}, fh)
'''


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

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.failed


@dataclass(frozen=True)
class Selection:
    tests: tuple[str, ...]  # stable ids (`test_ids`) of the tests that execute the mutant's statement
    import_time: bool  # also executed outside any test (import, collection)

    @property
    def covered(self) -> bool:
        return bool(self.tests) or self.import_time


@dataclass
class CoverageMap:
    root: Path  # the tree the suite ran in (file paths below are relative to it)
    lines: dict[str, dict[int, frozenset[str]]]  # file -> line -> contexts
    run: SuiteRun
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
        for line in range(mutant.line, mutant.end_line + 1):
            lo, hi = own.get(line, (line, line))
            for n in range(lo, hi + 1):
                found |= self.contexts(mutant.target, n)
        return Selection(stable_selection(found - {IMPORT_CONTEXT}), IMPORT_CONTEXT in found)

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
        tree = ast.parse(source)
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


def _read_report(path: Path) -> tuple[dict[str, float], list[str], int | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, [], None
    tests = data.get("tests", {})
    durations = {k: float(v.get("duration", 0.0)) for k, v in tests.items()}
    failed = sorted(k for k, v in tests.items() if v.get("failed"))
    return durations, failed, data.get("exitstatus")


def _read_coverage(data_file: Path, root: Path) -> dict[str, dict[int, frozenset[str]]]:
    from coverage import CoverageData  # imported here: only sweeps need it

    data = CoverageData(basename=str(data_file))
    data.read()
    result: dict[str, dict[int, frozenset[str]]] = {}
    real_root = root.resolve()
    for measured in data.measured_files():
        path = Path(measured).resolve()
        if not path.is_relative_to(real_root):
            continue
        rel = path.relative_to(real_root).as_posix()
        result[rel] = {n: frozenset(ctx) for n, ctx in data.contexts_by_lineno(measured).items() if n > 0}
    return result


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
        report = work / "tests.json"
        extra = {**python_path(root, roots, str(work)), REPORT_ENV: str(report)}
        if only_tests is not None:
            extra[ONLY_ENV] = json.dumps(sorted(os.path.realpath(root / f) for f in only_tests))
            extra[SKIP_ENV] = json.dumps(sorted(os.path.realpath(root / f) for f in skip_tests))
        env = child_env(extra, pycache_dir=pycache_dir)
        argv = [python, "-m", "coverage", "run", f"--rcfile={rc}", "-m", "pytest", "-q", "-rfE",
                "-p", "no:cacheprovider", "-p", PLUGIN, *pytest_args]  # fmt: skip
        done = await process.run(argv, cwd=root, env=env, timeout=timeout)
        durations, failed, exitstatus = _read_report(report)
        code = done.returncode if exitstatus is None else exitstatus
        tail = (done.out + done.err)[-4000:]
        if done.returncode not in (0, 1) and code == 0:
            code = done.returncode  # coverage itself failed after a green pytest
        run = SuiteRun(code, durations, failed, done.duration_s, tail, done.timed_out, first_error(done.out + done.err))
        lines = _read_coverage(work / "data", root) if (work / "data").exists() else {}
        return CoverageMap(root, lines, run)
    finally:
        shutil.rmtree(work, ignore_errors=True)
