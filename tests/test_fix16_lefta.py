"""Mutation verdicts decided by runs around a narrowed selection (review16 leftA16).

  * A cached verdict stands only while every test file whose run decided it is unchanged: a
    survivor confirmed with the tests the suite runs after its selection is re-run when one of
    those later test files changes.
  * A Timeout counts (as detected) only when the narrowed selection finishes in time without the
    mutant: a selected test whose session fixture an earlier test set up in the suite (its measured
    time leaves the set-up out) times out alone either way; the whole suite then decides. The
    sanity probes get the same second chance (their failure message blamed the imports).
  * A selection failing without the mutant is run once more; a test that failed once and not the
    second time is flaky, and a failure of flaky tests alone is no kill.

Real projects in tmp_path, real sweeps."""

from __future__ import annotations

from pathlib import Path

from conftest import git
from swept import project, sweep
from swept import record as the_record

from launcher.mutation.model import MutantStatus


def _commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


SETTINGS = """\
class Settings:
    def __init__(self):
        self.values = {"precision": 2}

    def set(self, key, value):
        self.values[key] = value

    def get(self, key):
        return self.values[key]


SETTINGS = Settings()


def use_high_precision():
    SETTINGS.set("precision", 6)


def fmt(x):
    return f"{x:.{SETTINGS.get('precision')}f}"
"""
CONFIGURE = "from pkg import settings\n\n\ndef test_configure():\n    settings.use_high_precision()\n"
LATER_LOOSE = "from pkg import settings\n\n\ndef test_fmt():\n    assert settings.fmt(1 / 3)\n"
LATER_STRICT = "from pkg import settings\n\n\ndef test_fmt():\n    assert settings.fmt(1 / 3) == '0.333333'\n"


def test_a_survivor_confirmed_by_later_tests_is_rerun_when_a_later_test_file_changes(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", {"pkg/__init__.py": "", "pkg/settings.py": SETTINGS,
                                        "tests/test_a.py": CONFIGURE, "tests/test_z.py": LATER_LOOSE})  # fmt: skip
    # Only test_configure runs the line; test_z's test, run after it, reads the precision it sets.
    first = the_record(sweep(root, ["pkg/settings.py"], ["number"]), '"precision", 7')
    assert (first.status, first.source) == (MutantStatus.SURVIVED, "run"), first.note
    again = the_record(sweep(root, ["pkg/settings.py"], ["number"]), '"precision", 7')
    assert (again.status, again.source) == (MutantStatus.SURVIVED, "cached"), "nothing changed: the cache serves it"

    (root / "tests/test_z.py").write_text(LATER_STRICT)  # only the later test's body changes
    _commit(root, "test_z checks the precision")
    after_edit = the_record(sweep(root, ["pkg/settings.py"], ["number"]), '"precision", 7')

    assert after_edit.source == "run", "the survivor was decided with test_z.py: its change re-runs the mutant"
    assert after_edit.status is MutantStatus.KILLED, after_edit.note


SLOW_FIXTURE = {
    "pkg/__init__.py": "",
    "pkg/calc.py": "def value():\n    return 1\n",
    "tests/conftest.py": "import time\nimport pytest\n\n\n@pytest.fixture(scope='session')\n"
                         "def slow():\n    time.sleep(4)\n    return 1\n",
    "tests/test_a.py": "def test_first(slow):\n    assert slow == 1\n",  # pays the set-up in the suite
    "tests/test_b.py": "from pkg.calc import value\n\n\ndef test_value(slow):\n    assert value() > 0\n",
}


def test_a_narrowed_timeout_the_clean_selection_shares_is_decided_by_the_whole_suite(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", SLOW_FIXTURE)
    outcome = sweep(root, ["pkg/calc.py"], ["number"], timeout_min_s=2.0, use_cache=False)

    survivor = the_record(outcome, "return 2")  # value() > 0 still holds: no test can tell
    assert survivor.status is MutantStatus.SURVIVED, survivor.note
    assert "without the mutant either: re-run with the whole suite" in survivor.note


FLAKY = """\
from pathlib import Path

from pkg.calc import value

COUNTER = Path(__file__).resolve().parents[2] / "counter"


def test_value():
    assert value() > 0


def test_flaky():  # asserts nothing about value(): fails by its schedule (its n-th run in the sweep)
    n = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
    COUNTER.write_text(str(n))
    assert n not in (2, 3) and not (n == 4 and value() == 2), "flaky"
"""


def test_a_kill_by_a_test_that_failed_once_without_the_mutant_and_then_passed_is_no_kill(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", {
        "pkg/__init__.py": "",
        "pkg/calc.py": "def first():\n    return 0\n\n\ndef value():\n    return 1\n",
        "tests/test_a.py": "from pkg.calc import first\n\n\ndef test_first():\n    assert first() == 0\n",
        "tests/test_b.py": FLAKY,
    })  # fmt: skip
    # Runs of test_flaky: 1 coverage (passes), 2 the mutant (fails), 3 the selection without the
    # mutant (fails), 4 that run re-checked (passes: flaky). Before, run 4 was the mutant again,
    # with the tests before it; it failed, and the kill counted.
    outcome = sweep(root, ["pkg/calc.py"], ["number"], use_cache=False)

    record = the_record(outcome, "return 2")
    assert record.status is MutantStatus.SURVIVED, record.note
    assert "tests/test_b.py::test_flaky, flaky without the mutant: no kill" in record.note
