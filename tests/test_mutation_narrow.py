"""The narrow first stage (issue 11, speed): an import-time mutant's whole-suite run first collects
only the test files of its likely killers; a kill there is the verdict, anything else runs the
whole suite, whose verdict it is. A survivor always ran the whole suite.

The generated projects' conftest logs, per test process, which test files it collected and
which tests it ran while a mutant is in place (the module's constants differ from the clean
values), and the same for every check of a reordered kill on the unmutated code (its priority
file holds a stop line): the assertions count files and runs, never time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_mutation_verdicts import make_repo, sweep

from launcher.mutation.model import MutantStatus
from launcher.mutation.narrow_stage import MISSES_TO_SKIP, NarrowStage, ran_alone


def _conftest(values: str, clean: str) -> str:
    return (
        "import os\n\nimport pytest\n\nimport pkg.limits as limits\n\n\n"
        "def _log(kind, what):\n"
        f"    values = {values!r}.format(limits=limits)\n"
        "    order = os.environ.get('LAUNCHER_TEST_ORDER', '')\n"
        "    check = bool(order) and os.path.exists(order) and '!stop-after' in open(order).read()\n"
        f"    if values != {clean!r} or check:\n"
        "        with open(os.environ['NARROW_LOG'], 'a', encoding='utf-8') as fh:\n"
        "            fh.write(f\"{os.getpid()} {'check' if check else values} {kind} {what}\\n\")\n\n\n"
        "def pytest_collectreport(report):  # a test module imported and collected\n"
        "    if report.nodeid.endswith('.py') and '/test_' in report.nodeid:\n"
        "        _log('collect', report.nodeid)\n\n\n"
        "@pytest.fixture(autouse=True)\n"
        "def _log_run(request):\n"
        "    _log('run', request.node.nodeid)\n"
        "    yield\n"
    )


@dataclass
class Run:
    """One test process under a mutant (`tag`: its values) or checking a kill (`check`)."""

    tag: str
    collected: set[str] = field(default_factory=set)
    ran: list[str] = field(default_factory=list)


def _runs(log: Path) -> list[Run]:
    runs: dict[str, Run] = {}
    for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
        pid, tag, kind, what = line.split(" ", 3)
        run = runs.setdefault(pid, Run(tag))
        run.collected.add(what) if kind == "collect" else run.ran.append(what)
    return list(runs.values())


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / f"narrow-{uuid.uuid4().hex}.log"
    monkeypatch.setenv("NARROW_LOG", str(path))
    return path


OTHERS = 8
OTHER_TESTS = "".join(f"def test_other_{i}():\n    assert {i} == {i}\n\n\n" for i in range(OTHERS))
LIMITS = {
    "pkg/__init__.py": "",
    "pkg/limits.py": (
        "LIMIT = 3\n"
        "SPARE = 7  # read by nothing: its mutant survives\n\n\n"
        "def capped(n):\n"
        "    return min(n, LIMIT)\n"
    ),
    "tests/__init__.py": "",
    "tests/conftest.py": _conftest("{limits.LIMIT},{limits.SPARE}", "3,7"),
    "tests/test_a_other.py": OTHER_TESTS,
    "tests/test_b_value.py": "from pkg import limits\n\n\ndef test_spare_is_positive():\n    assert limits.SPARE > 0\n",
    "tests/test_z_limits.py": "from pkg.limits import capped\n\n\ndef test_capped():\n    assert capped(10) == 3\n",
}
ALL_FILES = {"tests/test_a_other.py", "tests/test_b_value.py", "tests/test_z_limits.py"}
KILLER = "tests/test_z_limits.py::test_capped"


def test_a_killed_import_time_mutant_is_killed_in_its_killers_file_and_confirmed_by_the_whole_suite(
    tmp_path: Path, log: Path
) -> None:
    """`LIMIT = 4` is read by `capped`, whose test is the likely killer: its process collects
    that test's file only. The killer ran alone, but the whole suite does not run it first (it
    might need what earlier tests leave), so its first kill is checked once on the unmutated
    code, with the same narrow file. The kill is then confirmed with the whole suite collected
    (another test file may set up at import what the mutated module holds), the mutant in place,
    nothing run after the killer (the run's stop line tags it a check here)."""
    root = make_repo(tmp_path / "p", LIMITS)
    outcome = sweep(root, paths=["pkg/limits.py"], operators=["number"])
    killed = next(r for r in outcome.results if r.mutant.mut == "LIMIT = 4")
    assert (killed.status, killed.killed_by) == (MutantStatus.KILLED, [KILLER])
    runs = [run for run in _runs(log) if run.tag == "4,7"]
    assert [(run.collected, run.ran) for run in runs] == [({"tests/test_z_limits.py"}, [KILLER])]
    checks = [run for run in _runs(log) if run.tag == "check"]
    assert [(run.collected, run.ran) for run in checks] == [({"tests/test_z_limits.py"}, [KILLER]),
                                                            (ALL_FILES, [KILLER])]  # fmt: skip


def test_a_mutant_the_narrow_files_miss_gets_the_whole_suites_verdict(tmp_path: Path, log: Path) -> None:
    """`SPARE = 8` survives its narrow stage (its neighbour's killer, `test_capped`, passes), so
    the whole suite runs, every test of it, and says Survived."""
    root = make_repo(tmp_path / "p", LIMITS)
    outcome = sweep(root, paths=["pkg/limits.py"], operators=["number"])
    spare = next(r for r in outcome.results if r.mutant.mut.startswith("SPARE = 8"))
    assert spare.status is MutantStatus.SURVIVED
    runs = [run for run in _runs(log) if run.tag == "3,8"]
    assert [run.collected for run in runs] == [{"tests/test_z_limits.py"}, ALL_FILES]
    others = [f"tests/test_a_other.py::test_other_{i}" for i in range(OTHERS)]
    assert sorted(runs[-1].ran) == sorted([KILLER, "tests/test_b_value.py::test_spare_is_positive", *others])


EXACT = {
    **LIMITS,
    "tests/test_b_value.py": "from pkg import limits\n\n\ndef test_spare_is_seven():\n    assert limits.SPARE == 7\n",
}


def test_a_kill_outside_the_narrow_files_comes_from_the_whole_suite(tmp_path: Path, log: Path) -> None:
    """`SPARE = 8` passes its narrow stage and is killed by a file that stage never collected, by
    a test that reads no function (so never a likely killer)."""
    root = make_repo(tmp_path / "p", EXACT)
    outcome = sweep(root, paths=["pkg/limits.py"], operators=["number"])
    spare = next(r for r in outcome.results if r.mutant.mut.startswith("SPARE = 8"))
    assert (spare.status, spare.killed_by) == (MutantStatus.KILLED, ["tests/test_b_value.py::test_spare_is_seven"])
    assert [run.collected for run in _runs(log) if run.tag == "3,8"] == [{"tests/test_z_limits.py"}, ALL_FILES]


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
    "tests/conftest.py": _conftest("{limits.WIDTH}", "2"),
    "tests/test_a_ident.py": "from pkg.limits import ident\n\n\ndef test_ident():\n    assert ident(1) == 1\n",
    "tests/test_a_other.py": OTHER_TESTS,
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


def test_an_order_dependent_kill_in_the_narrow_stage_is_caught_and_the_whole_suite_decides(
    tmp_path: Path, log: Path
) -> None:
    """`test_seen_empty` passes only before `test_add_then_seen`; in the narrow stage the cheaper
    one runs first and `test_seen_empty` fails under `WIDTH = 3`, a surviving mutant. The check
    on the unmutated code with the same narrow files fails too: ordering is turned off and the
    whole suite, in pytest's order, says Survived."""
    root = make_repo(tmp_path / "p", ORDER_DEPENDENT)
    outcome = sweep(root, paths=["pkg/limits.py"], operators=["number"])
    assert {r.mutant.mut: r.status for r in outcome.results} == {"WIDTH = 3": MutantStatus.SURVIVED}
    assert any(f"test order turned off: {KILLER_OF_ORDER} fails" in note for note in outcome.notes)
    runs = [(run.tag, run.collected, run.ran) for run in _runs(log)]
    narrow = {"tests/test_seen.py"}
    assert runs[:2] == [
        ("3", narrow, ["tests/test_seen.py::test_add_then_seen", KILLER_OF_ORDER]),  # the narrow stage
        ("check", narrow, ["tests/test_seen.py::test_add_then_seen", KILLER_OF_ORDER]),  # same, unmutated
    ]
    assert runs[2][:2] == ("3", {"tests/test_a_ident.py", "tests/test_a_other.py", "tests/test_seen.py"})
    assert runs[2][2][-2:] == [KILLER_OF_ORDER, "tests/test_seen.py::test_add_then_seen"]  # pytest's order
    assert len(runs) == 3


def test_the_stage_is_skipped_where_it_cannot_pay(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / f"t/test_{name}.py").write_text("")
    stage = NarrowStage()
    tests = [*(f"t/test_a.py::test_{i}" for i in range(6)), "t/test_b.py::test_x", "t/test_c.py::test_y"]
    stage.learn(dict.fromkeys(tests, 0.5), tmp_path)
    assert stage.candidate([]) == []  # nothing to aim at
    assert stage.candidate(["t/test_a.py::test_1"]) == []  # 6 of the 8 tests: no narrower than the suite
    assert stage.candidate(["t/test_b.py::test_x", "t/test_c.py::test_y[1]", "t/test_b.py::test_x"]) == [
        "t/test_b.py", "t/test_c.py"]  # fmt: skip
    assert stage.candidate(["t/gone.py::test_x"]) == []  # not a file of the suite
    # A narrow run's time limit: the start-up allowance, plus the files' share of the rest.
    assert stage.time_limit(["t/test_b.py", "t/test_c.py"], suite_limit=45.0, allowance=5.0) == 15.0
    for _ in range(MISSES_TO_SKIP - 1):
        stage.record("pkg/m.py", ["t/test_b.py"], [])
    assert stage.worth_trying("pkg/m.py")
    stage.record("pkg/m.py", ["t/test_b.py"], ["t/test_c.py::test_y"])  # killed elsewhere: a miss too
    assert not stage.worth_trying("pkg/m.py") and stage.worth_trying("pkg/other.py")
    stage.record("pkg/m.py", ["t/test_b.py"], ["t/test_b.py::test_x"])  # would have killed: try again
    assert stage.worth_trying("pkg/m.py")


@pytest.mark.parametrize(
    ("summary", "alone"),
    [
        ("FAILED t.py::test_a - assert 1 == 2\n!!!!! stopping after 1 failures !!!!!\n1 failed in 0.03s\n", True),
        ("1 failed, 3 deselected, 1 warning in 0.03s\n", True),
        ("1 failed, 2 passed in 0.10s\n", False),
        ("1 failed, 1 skipped in 0.10s\n", False),
        ("1 failed, 1 error in 0.10s\n", False),
        ("no summary\n", False),
    ],
)
def test_a_killer_ran_alone_only_when_the_summary_counts_one_test(summary: str, alone: bool) -> None:
    assert ran_alone(summary) is alone


HANGING = {
    "pkg/__init__.py": "",
    "pkg/limits.py": (
        "import time\n\n"
        "LIMIT = 3\n\n\n"
        "def capped(n):\n"
        "    return min(n, LIMIT)\n\n\n"
        "def settle():  # waits while LIMIT is not 3: forever under `LIMIT = 4`\n"
        "    while str(LIMIT) != 'three'.replace('three', str(len('abc'))):\n"
        "        time.sleep(0.01)\n"
        "    return True\n"
    ),
    "tests/__init__.py": "",
    "tests/conftest.py": _conftest("{limits.LIMIT}", "3"),
    "tests/test_a_capped.py": (
        "import time\n\nfrom pkg.limits import capped\n\n\n"
        "def test_capped():\n"
        "    time.sleep(0.05)  # the dearer reader: ordered after test_settle, cheapest first\n"
        "    assert capped(10) == 3\n"
    ),
    "tests/test_b_other.py": OTHER_TESTS,
    "tests/test_z_settle.py": "from pkg.limits import settle\n\n\ndef test_settle():\n    assert settle()\n",
}


def test_a_test_that_hangs_when_moved_first_does_not_turn_a_kill_into_a_timeout(tmp_path: Path, log: Path) -> None:
    """Under `LIMIT = 4` `test_settle` hangs and `test_capped` fails; pytest's order runs
    `test_capped` first: Killed. The likely killers put the cheaper `test_settle` first, and its
    narrow stage times out: the whole suite then runs in pytest's order, and says Killed."""
    root = make_repo(tmp_path / "p", HANGING)
    outcome = sweep(root, paths=["pkg/limits.py"], operators=["number"], timeout_min_s=2.0, timeout_factor=0.1)
    (result,) = (r for r in outcome.results if r.status is not MutantStatus.NO_COVERAGE)
    assert (result.status, result.killed_by) == (MutantStatus.KILLED, ["tests/test_a_capped.py::test_capped"])
    runs = [(run.collected, run.ran) for run in _runs(log) if run.tag == "4"]
    assert runs == [
        ({"tests/test_a_capped.py", "tests/test_z_settle.py"}, ["tests/test_z_settle.py::test_settle"]),  # timed out
        ({"tests/test_a_capped.py", "tests/test_b_other.py", "tests/test_z_settle.py"},
         ["tests/test_a_capped.py::test_capped"]),  # pytest's order
    ]  # fmt: skip
