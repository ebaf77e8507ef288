"""A sweep's opening phases (issue 11, speed): the coverage run overlaps mutant generation and
each phase is told with its duration; caches across sweeps; `--since` runs under coverage only
the test files that can reach the changed code, and still gives a full sweep's statuses."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files
from test_mutation_verdicts import make_repo

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation import discover
from launcher.mutation.model import MutantStatus
from launcher.mutation.results import MutantRecord
from launcher.mutation.sanity import SanityFailed
from launcher.store.mutants import MutantStore

# `pkg.a` is tested weakly by test_a.py (statically imported) and fully by test_dynamic.py, which
# imports it by a computed name: no static import graph sees that edge. `pkg.b` has its own test.
PROJECT = {
    "pkg/__init__.py": "",
    "pkg/a.py": (
        "def is_adult(age):\n"
        "    return age >= 18\n\n\n"
        "def double(n):\n"
        "    return n * 2\n"
    ),
    "pkg/b.py": "def triple(n):\n    return n * 3\n",
    "tests/__init__.py": "",
    "tests/test_a.py": "from pkg.a import is_adult\n\n\ndef test_adult():\n    assert is_adult(40)\n",
    "tests/test_b.py": "from pkg.b import triple\n\n\ndef test_triple():\n    assert triple(2) == 6\n",
    "tests/test_dynamic.py": (
        "import importlib\n\n\n"
        "def _a():\n"
        "    return importlib.import_module('pkg.' + 'a')\n\n\n"
        "def test_boundary():\n"
        "    assert _a().is_adult(18) and not _a().is_adult(17)\n\n\n"
        "def test_double():\n"
        "    assert _a().double(3) == 6\n"
    ),
}


class Recorder:
    """A sweep listener keeping every phase line, in order."""

    def __init__(self) -> None:
        self.phases: list[str] = []

    def phase(self, text: str) -> None:
        self.phases.append(text)

    def started(self, sweep_id: str, total: int, settled: int, resumed: bool) -> None:
        return None

    def running(self, jobs: int, workers: int) -> None:
        return None

    def settled(self, done: int, total: int, record: MutantRecord) -> None:
        return None

    def first(self, prefix: str) -> int:
        return next(i for i, line in enumerate(self.phases) if line.startswith(prefix))



def sweep(root: Path, listener: Recorder | None = None, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 1)
    options.setdefault("use_cache", False)
    options.setdefault("python", __import__("sys").executable)
    return anyio.run(run_sweep, root, SweepOptions(**options), lambda _line: None, listener)


def verdicts(outcome: SweepOutcome) -> dict[tuple[str, int, str], MutantStatus]:
    return {(r.mutant.function, r.mutant.line, r.mutant.mut): r.status for r in outcome.results}


def change_a(root: Path) -> None:
    """An uncommitted edit of `is_adult` (the `--since HEAD` sweeps mutate just that function)."""
    path = root / "pkg/a.py"
    path.write_text(path.read_text().replace("return age >= 18", "return 18 <= age"))


def test_the_coverage_run_starts_while_mutants_are_generated_and_each_phase_says_its_duration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Generation waits (in its worker thread) until the suite's own conftest shows that pytest
    has started under coverage: run one after the other, the suite would never start."""
    marker = tmp_path / "suite-started"
    conftest = f"def pytest_sessionstart(session):\n    open({str(marker)!r}, 'w').close()\n"
    root = make_repo(tmp_path / "p", {**PROJECT, "conftest.py": conftest})
    seen: list[bool] = []
    real = discover.mutants_for_file

    def slow_generation(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        seen.append(marker.exists())
        return real(*args, **kwargs)

    monkeypatch.setattr(discover, "mutants_for_file", slow_generation)
    listener = Recorder()
    outcome = sweep(root, listener, paths=["pkg/b.py"], operators=["arithmetic"])
    assert seen == [True]  # the suite was running under coverage while the mutants were generated
    assert listener.first("coverage: started") < listener.first("generation: 1 mutants")
    generated = listener.phases[listener.first("generation: 1 mutants")]
    assert generated.startswith("generation: 1 mutants in 1 file(s), generated in ") and generated.endswith(" s")
    measured = listener.phases[listener.first("coverage: 4 test(s)")]
    assert measured.startswith("coverage: 4 test(s), measured in ") and measured.endswith(" s")
    assert verdicts(outcome) == {("triple", 2, "return n / 3"): MutantStatus.KILLED}


def test_a_failing_phase_is_reported_as_itself_and_leaves_no_worker_tree_or_results(tmp_path: Path) -> None:
    """Guard for the overlap: the suite failing on the clean tree stops generation too; the error
    is the sanity failure itself (not a group of errors), and nothing of the sweep is left over."""
    root = make_repo(tmp_path / "p", {**PROJECT, "tests/test_b.py": "def test_broken():\n    assert False\n"})
    with pytest.raises(SanityFailed, match="1 failing"):
        sweep(root, paths=["pkg/a.py"])
    assert not list((tmp_path / "cache").rglob("w[0-9]*"))  # worker trees removed
    assert not (root / ".launcher" / "mutation-runs").exists()
    store = MutantStore(root / ".launcher" / "launcher.db")
    try:
        (row,) = store.sweeps()
        assert row.status == "failed" and store.results(row.id) == {}
    finally:
        store.close()


def test_a_re_run_says_it_reused_the_coverage_map_and_a_committed_test_change_measures_again(tmp_path: Path) -> None:
    """Cache across sweeps: the output says when the map was reused; a new commit of a test is a
    stale map, never used: the new test kills a mutant the old map had no test for."""
    root = make_repo(tmp_path / "p", PROJECT)
    options: dict[str, Any] = {"paths": ["pkg/b.py"], "use_cache": True}
    first, second = Recorder(), Recorder()
    sweep(root, first, **options)
    sweep(root, second, **options)
    assert any(p.startswith("coverage: ") and "measured in" in p for p in first.phases)
    assert "coverage: 4 test(s), reused from an earlier sweep of the same code and tests" in second.phases
    (root / "pkg/b.py").write_text("def triple(n):\n    return n * 3\n\n\ndef half(n):\n    return n // 2\n")
    write_files(root, {"tests/test_half.py": "from pkg.b import half\n\n\ndef test_half():\n    assert half(9) == 4\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "half, tested")
    third = Recorder()
    outcome = sweep(root, third, **options)
    assert not any("reused" in p for p in third.phases)
    halves = {r.status for r in outcome.results if r.mutant.function == "half"}
    assert halves == {MutantStatus.KILLED}  # a stale map would have said NoCoverage


def test_since_measures_only_the_importing_test_files_and_gives_the_full_sweeps_statuses(tmp_path: Path) -> None:
    """The import graph names test_a.py alone; test_dynamic.py (a computed import) is missed, so
    the limited run leaves `is_adult`'s boundary mutant alive: the whole suite's coverage then
    finds test_dynamic's kill, as a full sweep does."""
    root = make_repo(tmp_path / "p", PROJECT)
    change_a(root)
    listener = Recorder()
    limited = sweep(root, listener, paths=["pkg/a.py"], since="HEAD")
    assert any(n.startswith("--since: coverage measured on 1 test file(s) found by the static import graph")
               for n in limited.notes)  # fmt: skip
    assert "coverage: started (1 test file(s) that can reach the changed code" in " ".join(listener.phases)
    assert any(p.startswith("coverage: started (the whole suite, to confirm") for p in listener.phases)
    full = sweep(root, paths=["pkg/a.py"])
    expected = {k: v for k, v in verdicts(full).items() if k[0] == "is_adult"}
    assert verdicts(limited) == expected
    assert MutantStatus.SURVIVED not in expected.values()  # test_dynamic kills them all


def test_since_code_reached_only_by_a_dynamic_import_is_not_falsely_no_coverage(tmp_path: Path) -> None:
    """`double` is executed by test_dynamic.py alone: the limited run (test_a.py) sees no test for
    it; NoCoverage is confirmed against the whole suite, which kills it."""
    root = make_repo(tmp_path / "p", PROJECT)
    path = root / "pkg/a.py"
    path.write_text(path.read_text().replace("return n * 2", "return 2 * n"))
    outcome = sweep(root, paths=["pkg/a.py"], since="HEAD", operators=["arithmetic"])
    assert any(n.startswith("--since: coverage measured on 1 test file(s)") for n in outcome.notes)
    assert verdicts(outcome) == {("double", 6, "return 2 / n"): MutantStatus.KILLED}
    store = MutantStore(root / ".launcher" / "launcher.db")
    try:
        assert {row.status for row in store.results(outcome.sweep_id).values()} == {"Killed"}
    finally:
        store.close()


def test_since_after_a_full_sweep_selects_tests_from_its_cached_map(tmp_path: Path) -> None:
    """With the tests unchanged since a whole-suite sweep, its map names the tests that ran the
    changed file (test_dynamic.py included, which the import graph cannot see): the limited run
    kills every mutant, and no whole-suite run is needed."""
    root = make_repo(tmp_path / "p", PROJECT)
    full = sweep(root, paths=["pkg/a.py", "pkg/b.py"], use_cache=True)
    change_a(root)
    listener = Recorder()
    limited = sweep(root, listener, paths=["pkg/a.py", "pkg/b.py"], since="HEAD", use_cache=True)
    assert any("found by an earlier coverage map of the same tests" in n for n in limited.notes)
    assert "coverage: started (2 test file(s) that can reach the changed code" in " ".join(listener.phases)
    assert not any("the whole suite, to confirm" in p for p in listener.phases)
    assert limited.results and set(verdicts(limited).values()) == {MutantStatus.KILLED}
    assert {r.status for r in full.results if r.mutant.function == "is_adult"} == {MutantStatus.KILLED}
