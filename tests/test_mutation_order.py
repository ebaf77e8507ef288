"""Kill-likelihood order (issue 11, speed): a module-level mutant's whole-suite run tries the tests
likeliest to kill it first and stops at the first failure, while a survivor still ran every test.

The generated projects log, from an autouse fixture, every test that runs while a mutant is in
place (the module's constants differ from the clean values), so the assertions count the tests a
mutant's run executed: no timing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from test_mutation_verdicts import make_repo, sweep

from launcher.mutation.coverage_map import CoverageMap, SuiteRun
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.test_order import KillHistory, TestOrder

OTHERS = 8  # tests that run before the killer in pytest's file order


def _logging_conftest(clean: str) -> str:
    """An autouse fixture writing `<values> <node id>` for each test run under a mutant."""
    return (
        "import os\n\nimport pytest\n\nimport pkg.limits as limits\n\n\n"
        "@pytest.fixture(autouse=True)\n"
        "def _log_mutated_runs(request):\n"
        f"    values = {clean!r}.format(limits=limits)\n"
        f"    if values != {clean!r}.format(limits=_CLEAN):\n"
        "        with open(os.environ['ORDER_LOG'], 'a', encoding='utf-8') as fh:\n"
        "            fh.write(f'{values} {request.node.nodeid}\\n')\n"
        "    yield\n\n\n"
        "class _CLEAN:\n    LIMIT = 3\n    SPARE = 7\n    WIDTH = 2\n"
    )


LIMITS = {
    "pkg/__init__.py": "",
    "pkg/limits.py": (
        "LIMIT = 3\n"
        "SPARE = 7  # read by nothing: its mutant survives\n\n\n"
        "def capped(n):\n"
        "    return min(n, LIMIT)\n"
    ),
    "tests/__init__.py": "",
    "tests/conftest.py": _logging_conftest("{limits.LIMIT},{limits.SPARE}"),
    "tests/test_a_other.py": "".join(f"def test_other_{i}():\n    assert {i} == {i}\n\n\n" for i in range(OTHERS)),
    "tests/test_z_limits.py": "from pkg.limits import capped\n\n\ndef test_capped():\n    assert capped(10) == 3\n",
}
KILLER = "tests/test_z_limits.py::test_capped"


def _runs(log: Path) -> dict[str, list[str]]:
    """The tests each mutant's runs executed, by the values it gave the constants."""
    found: dict[str, list[str]] = {}
    for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
        values, test = line.split(" ", 1)
        found.setdefault(values, []).append(test)
    return found


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / f"order-{uuid.uuid4().hex}.log"
    monkeypatch.setenv("ORDER_LOG", str(path))
    return path


def test_a_killed_module_level_mutant_runs_the_reader_of_the_mutated_name_first(tmp_path: Path, log: Path) -> None:
    """`LIMIT = 3` -> `4` is killed only by the test of `capped`, which reads LIMIT, and which
    pytest would run after eight others: it runs first and the run stops there. (Twice: its
    narrow stage, then the confirmation of that kill with the whole suite collected, stopping
    after the killer: `test_mutation_narrow`.)"""
    root = make_repo(tmp_path / "p", LIMITS)
    outcome = sweep(root, paths=["pkg/limits.py"], operators=["number"])
    statuses = {r.mutant.mut: r.status for r in outcome.results}
    assert statuses == {"LIMIT = 4": MutantStatus.KILLED, "SPARE = 8  # read by nothing: its mutant survives":
                        MutantStatus.SURVIVED}  # fmt: skip
    assert _runs(log)["4,7"] == [KILLER, KILLER]


def test_a_survivor_still_ran_every_test_of_the_suite(tmp_path: Path, log: Path) -> None:
    """(Its last run: the narrow first stage, `test_mutation_narrow`, may run its likely killer before.)"""
    root = make_repo(tmp_path / "p", LIMITS)
    sweep(root, paths=["pkg/limits.py"], operators=["number"])
    ran = _runs(log)["3,8"][-(OTHERS + 1) :]
    assert len(ran) == OTHERS + 1
    assert set(ran) == {KILLER, *(f"tests/test_a_other.py::test_other_{i}" for i in range(OTHERS))}


def test_the_same_sweep_twice_runs_the_same_tests_and_gives_the_same_verdicts(tmp_path: Path, log: Path) -> None:
    root = make_repo(tmp_path / "p", LIMITS)
    first = sweep(root, paths=["pkg/limits.py"], operators=["number"])
    runs_first = _runs(log)
    log.unlink()
    second = sweep(root, paths=["pkg/limits.py"], operators=["number"])
    assert [r.status for r in first.results] == [r.status for r in second.results]
    again = _runs(log)
    assert again["4,7"] == runs_first["4,7"] == [KILLER, KILLER]
    assert sorted(again["3,8"]) == sorted(runs_first["3,8"])  # (their order follows the measured times)


def _mutant(function: str, line: int) -> Mutant:
    return Mutant(id=f"m{line}", fault="f", target="pkg/m.py", line=line, col=1, end_line=line, end_col=2,
                  function=function, scope_hash="h", scope_lines=(1, 99), rationale="", orig="", mut="", start=0,
                  end=1, replaced="x", replacement="y")  # fmt: skip


def test_the_neighbours_killers_come_nearest_first_whatever_order_their_results_arrived_in() -> None:
    kills = [
        (_mutant("<module>", 40), ["tests/t.py::test_far"]),
        (_mutant("f", 12), ["tests/t.py::test_f[case3]"]),  # positional id: its function, all cases
        (_mutant("<module>", 11), ["tests/t.py::test_near", "tests/t.py"]),  # a file (collection error): no test
        (_mutant("<module>", 9), ["tests/t.py::test_near"]),
    ]
    answers = set()
    for shift in range(len(kills)):
        history = KillHistory()
        for mutant, killed_by in kills[shift:] + kills[:shift]:
            history.record(mutant, killed_by)
        answers.add(tuple(history.killers(_mutant("<module>", 10))))
    # The same scope first (nearest first), then other scopes: one answer for every arrival order.
    assert answers == {("tests/t.py::test_near", "tests/t.py::test_far", "tests/t.py::test_f")}


def test_the_priority_is_killers_then_readers_then_the_file_then_the_fastest_in_any_arrival_order(
    tmp_path: Path,
) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/m.py").write_text(
        "LIMIT = 3\n\n\ndef capped(n):\n    return min(n, LIMIT)\n\n\ndef other():\n    return 1\n"
    )
    durations = {"t/a.py::test_slow_reader": 0.5, "t/a.py::test_reader": 0.001, "t/b.py::test_other": 0.002,
                 "t/c.py::test_fast[3-expected1]": 0.0001, "t/c.py::test_slow": 2.0}  # fmt: skip
    lines = {"pkg/m.py": {1: frozenset({""}), 5: frozenset({"t/a.py::test_slow_reader", "t/a.py::test_reader"}),
                          9: frozenset({"t/b.py::test_other"})}}  # fmt: skip
    cov = CoverageMap(tmp_path, lines, SuiteRun(0, durations, [], 3.0))
    kills = [(_mutant("capped", 5), ["t/c.py::test_slow"]), (_mutant("other", 9), ["t/b.py::test_other"])]
    answers = set()
    for arrival in (kills, kills[::-1]):
        order = TestOrder()
        order.learn(cov)
        for mutant, killed_by in arrival:
            order.record(mutant, killed_by)
        answers.add(tuple(order.priority(_mutant("<module>", 1))))
    assert answers == {(
        "t/c.py::test_slow", "t/b.py::test_other",  # killed neighbours: line 5, then line 9
        "t/a.py::test_reader", "t/a.py::test_slow_reader",  # cover `capped`, which reads LIMIT: cheaper first
        "t/c.py::test_fast",  # the fastest (a positional id: its function, all cases)
    )}  # fmt: skip


ORDER_DEPENDENT = {
    "pkg/__init__.py": "",
    "pkg/limits.py": (
        "SEEN = []\n"
        "WIDTH = 2\n\n\n"
        "def ident(item):  # the sanity probes' function: its test alone is no order problem\n"
        "    return item\n\n\n"
        "def seen():\n"
        "    return SEEN[:WIDTH]\n\n\n"
        "def add(item):\n"
        "    SEEN.append(item)\n"
    ),
    "tests/__init__.py": "",
    "tests/conftest.py": _logging_conftest("{limits.WIDTH}"),
    "tests/test_a_ident.py": "from pkg.limits import ident\n\n\ndef test_ident():\n    assert ident(1) == 1\n",
    "tests/test_seen.py": (
        "import time\n\nfrom pkg.limits import add, seen\n\n\n"
        "def test_seen_empty():\n"
        "    time.sleep(0.2)  # the dearer of the two: ordered after the other, cheapest first\n"
        "    assert seen() == []\n\n\n"
        "def test_add_then_seen():  # leaves SEEN filled: pytest runs it second\n"
        "    add(1)\n"
        "    assert seen() == [1]\n"
    ),
}
KILLER_OF_ORDER = "tests/test_seen.py::test_seen_empty"


def test_a_suite_that_depends_on_its_order_gets_the_verdicts_of_pytests_order(tmp_path: Path, log: Path) -> None:
    """`test_seen_empty` passes only before `test_add_then_seen`. Both read WIDTH; the cheaper
    one first makes `test_seen_empty` fail and call a surviving mutant (`WIDTH = 3`) killed: the
    check of that kill on the unmutated code catches it, ordering is turned off with a note, and
    the mutant runs again in pytest's order."""
    root = make_repo(tmp_path / "p", ORDER_DEPENDENT)
    outcome = sweep(root, paths=["pkg/limits.py"], operators=["number"])
    assert {r.mutant.mut: r.status for r in outcome.results} == {"WIDTH = 3": MutantStatus.SURVIVED}
    assert any(f"test order turned off: {KILLER_OF_ORDER} fails" in note for note in outcome.notes)
    assert _runs(log)["3"] == [
        "tests/test_seen.py::test_add_then_seen", KILLER_OF_ORDER,  # the readers of WIDTH, cheapest first
        "tests/test_a_ident.py::test_ident", KILLER_OF_ORDER, "tests/test_seen.py::test_add_then_seen",  # pytest's
    ]  # fmt: skip
