"""Mutation verdicts that hold on any project (issue 11, causes 1-5): generated projects whose
suites trip what toolz never did, each swept for real (tiny sweeps, real pytest runs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.git.repo import GitRepo
from launcher.mutation import fork_session, python_ops, worker_files
from launcher.mutation.discover import read_source
from launcher.mutation.executor import MutantJob, MutantResult
from launcher.mutation.executor_generic import GenericExecutor, TestCommand
from launcher.mutation.model import MutantStatus
from launcher.mutation.sanity import SanityFailed
from launcher.mutation.test_ids import stable_test_id, wider_selections

# Cases from a set of tuples: their order (and so pytest's positional ids `case3`, `expected5`)
# changes from one interpreter to the next with hash randomisation.
SET_ORDERED = {
    "pkg/__init__.py": "",
    "pkg/parse.py": (
        "def parse(text):\n"
        "    if text.startswith('-'):\n"
        "        return 0 - int(text[1:])\n"
        "    return int(text)\n\n\n"
        "def scale(text, factor):\n"
        "    if factor > 9:\n"
        "        return int(text) * factor\n"
        "    return int(text)\n"
    ),
    "tests/__init__.py": "",
    "tests/test_parse.py": (
        "import pytest\n"
        "from pkg.parse import parse, scale\n\n"
        "CASES = {(str(n), n) for n in range(1, 16)} | {('-7', -7)}\n"
        "PAIRS = {(str(n), (n, n)) for n in range(1, 16) if n != 9}\n\n\n"
        "@pytest.mark.parametrize('case', CASES)\n"
        "def test_parse(case):\n"
        "    text, expected = case\n"
        "    assert parse(text) == expected\n\n\n"
        "@pytest.mark.parametrize('text,expected', PAIRS)\n"
        "def test_scale(text, expected):\n"
        "    factor, value = expected\n"
        "    assert scale(text, factor) == (value * factor if factor > 9 else value)\n"
    ),
}


def make_repo(root: Path, files: dict[str, str]) -> Path:
    write_files(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return root


def sweep(root: Path, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 1)
    options.setdefault("use_cache", False)
    return anyio.run(run_sweep, root, SweepOptions(**options), lambda _line: None)


def verdicts(outcome: SweepOutcome) -> dict[tuple[str, int, str], MutantStatus]:
    return {(r.mutant.function, r.mutant.line, r.mutant.mut): r.status for r in outcome.results}


def test_set_ordered_parametrize_ids_give_the_full_suites_verdicts(tmp_path: Path) -> None:
    """Cause 1: the coverage run's `test_parse[case3]` is another case (or no case at all, for
    `test_scale[12-expected4]`) in the process that runs the mutant. Every mutant here is killed by
    the whole suite, so no Survived and no RuntimeError may appear."""
    root = make_repo(tmp_path / "p", SET_ORDERED)
    outcome = sweep(root, paths=["pkg/parse.py"], operators=["arithmetic"])
    found = verdicts(outcome)
    assert {(f, line) for f, line, _ in found} == {("parse", 3), ("scale", 9)}
    assert set(found.values()) == {MutantStatus.KILLED}, found


def test_the_same_sweep_twice_gives_the_same_verdicts(tmp_path: Path) -> None:
    """Cause 4: verdicts do not depend on the hash seed of the processes that run them."""
    root = make_repo(tmp_path / "p", SET_ORDERED)
    options: dict[str, Any] = {"paths": ["pkg/parse.py"], "operators": ["arithmetic", "comparison"]}
    first, second = sweep(root, **options), sweep(root, **options)
    assert verdicts(first) == verdicts(second)
    assert MutantStatus.RUNTIME_ERROR not in verdicts(first).values()
    # `factor > 9` -> `factor >= 9`: no case has factor 9, a genuine survivor, found both times.
    assert verdicts(first)[("scale", 8, "if factor >= 9:")] is MutantStatus.SURVIVED


CACHED = {
    "pkg/__init__.py": "",
    "pkg/words.py": (
        "import functools\n\n"
        "_CACHE = {}\n\n\n"
        "def shout(word):\n"
        "    if word not in _CACHE:\n"
        "        _CACHE[word] = word.upper() + '!'\n"
        "    return _CACHE[word]\n\n\n"
        "@functools.cache\n"
        "def greet(name):\n"
        "    return 'hello ' + name\n"
    ),
    "tests/__init__.py": "",
    # test_a runs first and fills both caches without looking at the values; test_b reads them.
    "tests/test_words.py": (
        "from pkg.words import greet, shout\n\n\n"
        "def test_a_fills():\n"
        "    shout('hi')\n"
        "    greet('x')\n\n\n"
        "def test_b_reads():\n"
        "    assert shout('hi') == 'HI!'\n"
        "    assert greet('x') == 'hello x'\n"
    ),
}


def test_a_mutant_in_code_filling_a_cache_runs_the_tests_that_read_the_cache(tmp_path: Path) -> None:
    """Cause 3: only test_a executes the filling lines; test_b reads what they stored."""
    root = make_repo(tmp_path / "p", CACHED)
    outcome = sweep(root, paths=["pkg/words.py"], operators=["string"])
    found = {(r.mutant.function, r.mutant.line): r for r in outcome.results}
    assert set(found) == {("shout", 8), ("greet", 14)}
    assert {k: r.status for k, r in found.items()} == {k: MutantStatus.KILLED for k in found}
    assert found["shout", 8].killed_by == ["tests/test_words.py::test_b_reads"]


def test_a_runtime_error_is_retried_then_counted_in_the_summary_notes_and_exit_status(tmp_path: Path) -> None:
    """Cause 2: a mutant whose runner fails is re-run with the whole suite; what still fails is
    counted, with the runner's own error, never silently left out of the score."""
    # The world breaks outside the tree (a worker tree starts each run without the files earlier
    # runs wrote in it: `tree_leftovers`).
    world = tmp_path / "world"
    world.mkdir()
    files = {
        "pkg/__init__.py": "",
        "pkg/calc.py": "def add(a, b):\n    return a + b\n",
        "tests/__init__.py": "",
        "tests/test_calc.py": "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
        # The runner itself fails (exit 3, an internal error) from the first mutant on, the
        # unmutated tree too (a crash only the mutant causes is a kill: tests/test_fix15_muta.py).
        "conftest.py": (
            "import pathlib\n\n\n"
            "def pytest_collection_finish(session):\n"
            f"    broken = pathlib.Path({str(world / 'broken')!r})\n"
            "    calc = pathlib.Path(__file__).with_name('pkg').joinpath('calc.py')\n"
            "    if '-' in calc.read_text() or broken.exists():\n"
            "        broken.touch()\n"
            "        raise RuntimeError('the runner broke: calc.py holds a minus')\n"
        ),
    }
    root = make_repo(tmp_path / "p", files)
    outcome = sweep(root, paths=["pkg/calc.py"], operators=["arithmetic"], use_fork=False)
    (record,) = outcome.results
    assert record.status is MutantStatus.RUNTIME_ERROR
    assert "the runner broke: calc.py holds a minus" in record.note
    assert "whole suite" in record.note
    assert "Unclassified 1" in outcome.headline
    assert any("1 mutant unclassified" in note and "the runner broke" in note for note in outcome.notes)
    assert outcome.exit_code == 3


CALC = {
    "pkg/__init__.py": "",
    "pkg/calc.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
}


def test_a_relative_python_is_resolved_from_where_the_sweep_started(tmp_path: Path) -> None:
    """Cause 5a: the coverage run starts in a worker tree; a relative --python must still work."""
    root = make_repo(tmp_path / "p", CALC)
    relative = os.path.relpath(sys.executable, root)
    outcome = sweep(root, paths=["pkg/calc.py"], operators=["arithmetic"], python=relative)
    assert [r.status for r in outcome.results] == [MutantStatus.KILLED]


def test_a_relative_python_that_does_not_exist_is_a_usage_problem(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "p", {"pkg/__init__.py": "", "pkg/calc.py": "def add(a, b):\n    return a + b\n",
                                      "tests/test_calc.py": "def test_x():\n    pass\n"})  # fmt: skip
    with pytest.raises(Exception) as caught:
        sweep(root, paths=["pkg/calc.py"], python="venv/bin/python")
    assert type(caught.value).__name__ == "UsageProblem"
    assert "venv/bin/python" in str(caught.value.what) and str(root) in str(caught.value.what)  # type: ignore[attr-defined]


GENERATED = {
    ".gitignore": "pkg/version.py\n",
    "pkg/__init__.py": "from pkg.version import VERSION\n",
    "pkg/version.py": "VERSION = '1.0'\n",  # written at build time, git-ignored
    "pkg/calc.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
}


def test_a_missing_ignored_file_is_named_with_the_real_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cause 5b: the worker trees lack the git-ignored generated file the main tree has (an ignored
    file beside tracked ones is copied unless over the bound: made tiny here)."""
    monkeypatch.setattr(worker_files, "MAX_FILE", 4)
    root = make_repo(tmp_path / "p", GENERATED)
    with pytest.raises(SanityFailed) as caught:
        sweep(root, paths=["pkg/calc.py"])
    message = caught.value.what + " " + (caught.value.fix or "")
    assert "ModuleNotFoundError: No module named 'pkg.version'" in message
    assert "pkg/version.py" in message and ".worktreeinclude" in message


def test_an_ignored_file_listed_in_worktreeinclude_is_copied_into_the_worker_trees(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "p", {**GENERATED, ".worktreeinclude": "pkg/version.py\n"})
    outcome = sweep(root, paths=["pkg/calc.py"], operators=["arithmetic"])
    assert [r.status for r in outcome.results] == [MutantStatus.KILLED]


@pytest.mark.parametrize(
    ("node_id", "stable"),
    [
        ("t.py::test_parse[case7]", "t.py::test_parse"),  # a position: another case elsewhere
        ("t.py::test_parse[1-expected7]", "t.py::test_parse"),
        ("t.py::C::test_x[a0]", "t.py::C::test_x"),  # a duplicate id's position suffix
        ("t.py::test_parse[1-2]", "t.py::test_parse[1-2]"),  # printed values name the same case
        ("t.py::test_parse[-7-True]", "t.py::test_parse[-7-True]"),
        ("t.py::test_plain", "t.py::test_plain"),
    ],
)
def test_positional_parametrize_ids_become_their_test_function(node_id: str, stable: str) -> None:
    assert stable_test_id(node_id) == stable


def test_an_unresolvable_selection_is_widened_to_the_function_then_the_file_then_the_suite() -> None:
    assert wider_selections(["t.py::test_a[x3]", "t.py::test_b"]) == [["t.py::test_a", "t.py::test_b"], ["t.py"], []]


def test_the_generic_executor_widens_a_node_id_pytest_no_longer_has(tmp_path: Path) -> None:
    """Cause 1, generic executor: `test_add[case9]` exists in no process: it must not be a
    RuntimeError (pytest's exit 4, `not found`), but the verdict of the test function."""
    files = {**CALC, "tests/test_calc.py": (
        "import pytest\nfrom pkg.calc import add\n\n\n"
        "@pytest.mark.parametrize('case', [(1, 2, 3)])\n"
        "def test_add(case):\n    a, b, total = case\n    assert add(a, b) == total\n"
    )}  # fmt: skip
    root = make_repo(tmp_path / "p", files)
    mutant = next(m for m in python_ops.generate_mutants(root / "pkg/calc.py", read_source(root / "pkg/calc.py"),
                                                         "pkg/calc.py") if m.fault == "arithmetic")  # fmt: skip

    async def body() -> MutantResult:
        repo = await GitRepo.discover(root)
        executor = GenericExecutor(repo, tmp_path / "w1", await repo.rev_parse("HEAD"), TestCommand(sys.executable))
        await executor.start()
        try:
            return await executor.run(MutantJob(mutant, ["tests/test_calc.py::test_add[case9]"], 60))
        finally:
            await executor.stop()

    result = anyio.run(body)
    assert result.status is MutantStatus.KILLED
    assert result.killed_by == ["tests/test_calc.py::test_add[case0]"]
    assert "selection widened to tests/test_calc.py::test_add" in result.output_tail


def test_the_fork_session_widens_ids_it_lacks_instead_of_falling_back_to_an_error() -> None:
    items = {nid: nid for nid in ("t.py::test_a[case0]", "t.py::test_a[case1]", "t.py::test_b", "u.py::test_c")}
    assert fork_session.select(items, ["t.py::test_b"]) == ["t.py::test_b"]
    assert fork_session.select(items, ["t.py::test_a[case7]"]) == ["t.py::test_a[case0]", "t.py::test_a[case1]"]
    assert fork_session.select(items, ["t.py::test_a"]) == ["t.py::test_a[case0]", "t.py::test_a[case1]"]
    assert fork_session.select(items, ["t.py::test_gone"]) == ["t.py::test_a[case0]", "t.py::test_a[case1]",
                                                               "t.py::test_b"]  # fmt: skip
    assert fork_session.select(items, ["v.py::test_gone"]) == list(items)


def test_a_re_run_of_the_same_code_reuses_the_coverage_map_and_an_edit_measures_again(tmp_path: Path) -> None:
    """Speed: the clean coverage run is the bulk of a small `--since` sweep; a local re-run of the
    same code and tests skips it, any edit (here: an uncommitted test) runs it again."""
    log = tmp_path / "coverage-runs.log"
    conftest = (
        "import sys\n\n\n"
        "def pytest_sessionstart(session):\n"
        "    coverage = sys.modules.get('coverage')\n"
        "    if coverage is not None and coverage.Coverage.current() is not None:\n"
        f"        with open({str(log)!r}, 'a') as fh:\n"
        "            fh.write('run\\n')\n"
    )
    root = make_repo(tmp_path / "p", {**CALC, "conftest.py": conftest})
    options: dict[str, Any] = {"paths": ["pkg/calc.py"], "operators": ["arithmetic"], "use_cache": True}
    first, second = sweep(root, **options), sweep(root, **options)
    assert log.read_text().count("run") == 1
    assert not any("coverage map reused" in note for note in first.notes)
    assert any("coverage map reused" in note for note in second.notes)
    assert verdicts(first) == verdicts(second) == {("add", 2, "return a - b"): MutantStatus.KILLED}
    test_file = root / "tests/test_calc.py"
    test_file.write_text(test_file.read_text() + "\n\ndef test_add_more():\n    assert add(1, 1) == 2\n")
    third = sweep(root, **options)
    assert log.read_text().count("run") == 2
    assert (root / ".launcher" / "mutation-cache").is_dir()
    assert not any("coverage map reused" in note for note in third.notes)
