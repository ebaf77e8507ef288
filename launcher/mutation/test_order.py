"""Kill-likelihood test order (issue 11, speed): a whole-suite run tries the likely killers first.

A mutant in module-level code runs the whole suite in a fresh process, stopping at the first
failure (`-x`). In pytest's file order a killed mutant pays for every test before the first one
that notices; here the tests most likely to notice run first:
  1. the tests that killed its neighbours earlier in this sweep (same file: the same function
     first, then by distance in lines),
  2. the tests covering the readers of the names its statement binds (the functions of the file
     that refer to them, and the statement's own body), then any test covering the file,
  3. the fastest tests of the suite,
cheapest first (by order of magnitude) within 2 and 3, then every other test in pytest's order. The order is a priority
file read by a tiny pytest plugin (`order_plugin`, loaded with `-p`) that only reorders what was
collected: the whole suite is still collected and a survivor still ran every test, and passed.

A suite whose tests depend on their order could fail a moved test on its own. So the first kill
by each test is checked once: the same order on the unmutated code, up to that test, must pass;
if it does not, ordering is turned off for the rest of the sweep (a note says why) and the mutant
runs again in pytest's order.
"""

from __future__ import annotations

import ast
import math
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from launcher.mutation.coverage_map import CoverageMap
from launcher.mutation.discover import read_source
from launcher.mutation.model import Mutant
from launcher.mutation.narrow_stage import NarrowStage
from launcher.mutation.session_record import RECORD_ENV, unfinished
from launcher.mutation.source_text import parse_quietly
from launcher.mutation.test_ids import stable_test_id

PLUGIN_NAME = "_launcher_test_order"  # the module name the plugin is copied to, loaded with `-p`
ORDER_ENV = "LAUNCHER_TEST_ORDER"  # names the priority file (the plugin's own constant too)
STOP_AFTER = "!stop-after "
NEIGHBOUR_KILLERS = 10  # at most this many tests from the kill history
PRIORITY_LIMIT = 60  # the whole priority list; the rest of the suite follows in pytest's order
FASTEST = 10


@dataclass(frozen=True)
class _Kill:
    function: str
    line: int
    tests: tuple[str, ...]  # stable ids (`test_ids`) of the tests that failed


class KillHistory:
    """Which tests killed which mutants of each file so far in this sweep (in memory only). The
    answer depends on what was recorded, not on the order it arrived in."""

    def __init__(self) -> None:
        self._by_file: dict[str, list[_Kill]] = {}

    def record(self, mutant: Mutant, killed_by: Sequence[str]) -> None:
        tests = tuple(sorted({stable_test_id(t) for t in killed_by if "::" in t}))
        if tests:
            self._by_file.setdefault(mutant.target, []).append(_Kill(mutant.function, mutant.line, tests))

    def killers(self, mutant: Mutant, limit: int = NEIGHBOUR_KILLERS) -> list[str]:
        """The nearest kills' tests first: the same function, then fewer lines away, then by id."""
        nearest: dict[str, tuple[bool, int]] = {}
        for kill in self._by_file.get(mutant.target, []):
            distance = (kill.function != mutant.function, abs(kill.line - mutant.line))
            for test in kill.tests:
                nearest[test] = min(nearest.get(test, distance), distance)
        return sorted(nearest, key=lambda test: (nearest[test], test))[:limit]


def cost_class(seconds: float) -> int:
    """0 up to 10 ms, 1 up to 100 ms, 2 up to a second...: a rank the noise of one run rarely
    moves (a small test's time does), so the same sweep orders its tests the same way again."""
    return max(0, math.ceil(math.log10(max(seconds, 1e-9) / 0.01)))


def bound_names(statement: ast.stmt) -> set[str]:
    """The names a module- or class-level statement binds (a def's, a class's, assignment targets,
    imports)."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {statement.name}
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return {(alias.asname or alias.name).split(".", 1)[0] for alias in statement.names}
    return {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _innermost_statement(body: list[ast.stmt], line: int) -> ast.stmt | None:
    """The statement owning `line` at module or class level (a class's own body is searched)."""
    for node in body:
        if node.lineno <= line <= (node.end_lineno or node.lineno):
            if isinstance(node, ast.ClassDef) and node.body and line >= node.body[0].lineno:
                return _innermost_statement(node.body, line) or node
            return node
    return None


def reader_lines(tree: ast.Module, line: int) -> set[int]:
    """The lines whose tests most likely see a change at `line`: the owning statement itself (a
    def's body, a class's methods) and every function or class of the file that refers to a name
    it binds (`X`, or `self.X` for a class attribute)."""
    statement = _innermost_statement(tree.body, line)
    if statement is None:
        return set()
    lines = set(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1))
    names = bound_names(statement)
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) or node is statement:
            continue
        if any((isinstance(n, ast.Name) and n.id in names) or (isinstance(n, ast.Attribute) and n.attr in names)
               for n in ast.walk(node)):  # fmt: skip
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


@dataclass
class TestOrder:
    """One sweep's kill-likelihood order, shared by its workers (see the module doc)."""

    __test__ = False  # not a pytest test class

    history: KillHistory = field(default_factory=KillHistory)
    narrow: NarrowStage = field(default_factory=NarrowStage)  # a whole-suite run's first stage
    disabled: str = ""  # why ordering was turned off, once it was
    _cov: CoverageMap | None = None
    _cost: dict[str, float] = field(default_factory=dict)  # stable id -> seconds on the clean tree
    _trees: dict[str, ast.Module | None] = field(default_factory=dict)
    _trusted: set[str] = field(default_factory=set)  # killers whose kill was checked once
    _suite_first: str = ""  # the test the whole suite ran first

    def learn(self, cov: CoverageMap) -> None:
        """The coverage run's map and durations (ordering starts only once they are known)."""
        self._cov = cov
        self._suite_first = next(iter(cov.run.durations), "")
        self.narrow.learn(cov.run.durations, cov.root)
        for test, seconds in cov.run.durations.items():
            if "::" in test:
                stable = stable_test_id(test)
                self._cost[stable] = self._cost.get(stable, 0.0) + seconds

    def record(self, mutant: Mutant, killed_by: Sequence[str]) -> None:
        self.history.record(mutant, killed_by)

    def _cheapest(self, tests: Iterable[str]) -> list[str]:
        """Cheapest first by order of magnitude (timings vary between runs), then by id."""
        chosen = {stable_test_id(t) for t in tests}
        return sorted(chosen, key=lambda t: (cost_class(self._cost.get(t, 0.0)), t))

    def _tree(self, rel: str) -> ast.Module | None:
        if rel not in self._trees and self._cov is not None:
            try:
                self._trees[rel] = parse_quietly(read_source(self._cov.root / rel))
            except (OSError, SyntaxError, ValueError):
                self._trees[rel] = None
        return self._trees.get(rel)

    def _groups(self, mutant: Mutant) -> list[list[str]]:
        cov = self._cov
        if cov is None or self.disabled or mutant.language != "python":
            return []
        tree = self._tree(mutant.target)
        readers = reader_lines(tree, mutant.line) if tree is not None else set()
        file_lines = cov.lines.get(mutant.target, {})
        return [
            self.history.killers(mutant),
            self._cheapest(cov.tests_covering(mutant.target, sorted(readers))),
            self._cheapest(cov.tests_covering(mutant.target, sorted(file_lines))),
            self._cheapest(self._cost)[:FASTEST],
        ]

    def priority(self, mutant: Mutant) -> list[str]:
        """The tests to run first for this mutant, likeliest first ([]: pytest's own order)."""
        groups = self._groups(mutant)
        return list(dict.fromkeys(test for group in groups for test in group))[:PRIORITY_LIMIT]

    def likely(self, mutant: Mutant) -> list[str]:
        """The tests with a reason to kill this mutant: killers of its neighbours, then readers'
        tests ([] before any is known: the narrow stage has nothing to aim at)."""
        groups = self._groups(mutant)[:2]
        return list(dict.fromkeys(test for group in groups for test in group))

    def first_in_suite(self, test: str) -> bool:
        """Whether `test` ran first in the whole suite: alone in its process, it saw what it sees
        there. Any other test run alone may miss state an earlier test leaves (a session fixture,
        a doctest namespace), so its kill needs the clean-tree check."""
        return bool(self._suite_first) and stable_test_id(test) == stable_test_id(self._suite_first)

    def needs_check(self, killer: str) -> bool:
        return not self.disabled and stable_test_id(killer) not in self._trusted

    def trust(self, killer: str) -> None:
        self._trusted.add(stable_test_id(killer))

    def disable(self, killer: str) -> None:
        self.disabled = (f"kill-likelihood test order turned off: {killer} fails on the unmutated code when the "
                         "likely killers run first (the suite depends on its order); pytest's order used")  # fmt: skip

    @property
    def notes(self) -> list[str]:
        return [self.disabled] if self.disabled else []


class OrderFile:
    """One worker tree's priority file and the plugin beside it (a directory next to the tree)."""

    def __init__(self, tree: Path) -> None:
        self.directory = tree.parent / f"{tree.name}-order"
        self.path = self.directory / "priority.txt"
        self.record = self.directory / "session.jsonl"  # the plugin's session record (`session_record`)

    def env(self, base: Mapping[str, str], *, autoload: bool = False) -> dict[str, str]:
        """`base` with the plugin importable (first on PYTHONPATH) and its files named;
        `autoload`: loaded by any pytest the command runs (PYTEST_PLUGINS), not by `-p`."""
        inherited = base.get("PYTHONPATH", "")
        path = os.pathsep.join(filter(None, [str(self.directory), inherited]))
        env = {**base, "PYTHONPATH": path, ORDER_ENV: str(self.path), RECORD_ENV: str(self.record)}
        if autoload:
            env["PYTEST_PLUGINS"] = ",".join(filter(None, [base.get("PYTEST_PLUGINS", ""), PLUGIN_NAME]))
        return env

    args = ("-p", PLUGIN_NAME)

    def install(self) -> None:
        """Before any test process starts: a zygote reads its import path once."""
        self.directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(__file__).with_name("order_plugin.py"), self.directory / f"{PLUGIN_NAME}.py")
        self.write([])

    def write(self, tests: Sequence[str], stop_after: str | None = None) -> None:
        lines = [*tests, *([STOP_AFTER + stop_after] if stop_after else [])]
        self.path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")

    def clear_record(self) -> None:
        """Before each run: the record then holds that run's sessions only."""
        self.record.unlink(missing_ok=True)

    def unfinished(self) -> str | None:
        """Why the last run did not run its tests to the end (`session_record.unfinished`)."""
        return unfinished(self.record)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
