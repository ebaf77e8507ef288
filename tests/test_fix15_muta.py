"""A verdict from a narrowed test selection must be the one the whole suite gives (review15 mutation
01, 02, 03).

  * Code that leaves state behind for a later test (a settings object changed through its own
    method, another module's attribute) is killed by that later test: a survivor of the narrowed
    selection is confirmed with every test the suite runs from the first selected one on.
  * A selected test that needs an earlier, unselected test fails alone on the clean tree too: the
    kill counts only when the selection passes without the mutant; else it runs again with the
    tests the suite runs before it.
  * A mutant whose wrong value crashes a conftest hook (pytest's INTERNALERROR, exit 3, no frame in
    the mutated file) is killed when the unmutated tree passes and the mutant crashes again.

Real projects, real sweeps (fork and generic executors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from swept import project, sweep
from swept import record as the_record

from launcher.app.mutation.sweep import SweepOutcome
from launcher.mutation.model import MutantStatus


def _sweep(root: Path, paths: list[str], operators: list[str], **options: Any) -> SweepOutcome:
    options.setdefault("use_cache", False)
    return sweep(root, paths, operators, **options)


SETTINGS = """\
import logging

log = logging.getLogger(__name__)


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
    log.debug("formatting %r", x)
    return f"{x:.{SETTINGS.get('precision')}f}"
"""

SETTINGS_TESTS = """\
from pkg import settings


def test_configure():
    settings.use_high_precision()


def test_format_after_configure():
    assert settings.fmt(1 / 3) == "0.333333"
"""

PROJECT = {"pkg/__init__.py": "", "pkg/settings.py": SETTINGS, "tests/test_settings.py": SETTINGS_TESTS}


@pytest.mark.parametrize("use_fork", [True, False], ids=["fork", "generic"])
def test_state_set_through_a_method_and_read_by_a_later_test_kills_the_mutant(tmp_path: Path, use_fork: bool) -> None:
    root = project(tmp_path / "proj", PROJECT)
    outcome = _sweep(root, ["pkg/settings.py"], ["number"], use_fork=use_fork)

    record = the_record(outcome, '"precision", 7')  # only test_configure runs the line; the next test fails
    assert record.status is MutantStatus.KILLED, record.note
    assert "the suite runs from the first of them on" in record.note


@pytest.mark.parametrize("use_fork", [True, False], ids=["fork", "generic"])
def test_a_selected_test_that_needs_an_earlier_one_does_not_kill_what_the_suite_cannot_see(
    tmp_path: Path, use_fork: bool
) -> None:
    root = project(tmp_path / "proj", PROJECT)
    outcome = _sweep(root, ["pkg/settings.py"], ["call_removal", "string"], use_fork=use_fork)

    # test_format_after_configure alone fails on the clean tree (precision 2): not a kill.
    for mutated in ("None", "XXformatting"):
        (record,) = [r for r in outcome.results if mutated in r.mutant.mut and "log.debug" in r.mutant.orig]
        assert record.status is MutantStatus.SURVIVED, record.note
        assert "fail without the mutant too" in record.note


def test_a_module_attribute_set_in_another_module_is_read_by_a_later_test(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", {
        "pkg/__init__.py": "",
        "pkg/config.py": "LEVEL = 1\n\n\ndef level_name():\n    return {1: 'low', 5: 'high'}.get(LEVEL, '?')\n",
        "pkg/app.py": "from pkg import config\n\n\ndef boost():\n    config.LEVEL = 5\n",
        "tests/test_app.py": "from pkg import app\n\n\ndef test_boost():\n    app.boost()\n",
        "tests/test_config.py": "from pkg import config\n\n\ndef test_level_after_boost():\n"
                                "    assert config.level_name() == 'high'\n",
    })  # fmt: skip
    outcome = _sweep(root, ["pkg/app.py"], ["number"])

    record = the_record(outcome, "config.LEVEL = 6")
    assert record.status is MutantStatus.KILLED, record.note


def test_a_survivor_that_no_later_test_sees_still_survives(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", {
        "pkg/__init__.py": "",
        "pkg/calc.py": "def double(x):\n    return x * 2\n\n\ndef clamp(x):\n    return min(x, 100)\n",
        "tests/test_calc.py": "from pkg.calc import clamp, double\n\n\n"
                              "def test_double():\n    assert double(0) == 0\n\n\n"
                              "def test_clamp():\n    assert clamp(5) == 5\n",
    })  # fmt: skip
    outcome = _sweep(root, ["pkg/calc.py"], ["number"])

    record = the_record(outcome, "x * 3")
    assert record.status is MutantStatus.SURVIVED, record.note  # the later test ran too, and passed


HOOK_PROJECT = {
    "pkgd/__init__.py": "",
    "pkgd/meta.py": 'VERSION = (1, 4)\n\n\ndef version_string():\n    return ".".join(str(p) for p in VERSION)\n',
    "tests/conftest.py": "from pkgd import meta\n\n\ndef pytest_configure(config):\n"
                         '    config.addinivalue_line("markers", "pkgd_" + meta.version_string().replace(".", "_")'
                         ' + ": tests for this version")\n',
    "tests/test_d.py": "def test_plain():\n    assert 1 + 1 == 2\n",
}


def test_a_mutant_that_crashes_a_conftest_hook_is_killed_not_a_runner_failure(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", HOOK_PROJECT)
    outcome = _sweep(root, ["pkgd/meta.py"], ["return_value"])

    record = the_record(outcome, "return None")
    assert record.status is MutantStatus.KILLED, record.note
    assert "INTERNALERROR: AttributeError" in record.note and "the mutant's doing" in record.note
    assert outcome.exit_code == 0


def test_a_selection_widens_by_suite_order_up_to_the_whole_suite() -> None:
    from launcher.mutation.selection_check import SelectionCheck

    suite = {"t/a.py::one": 0.1, "t/a.py::two": 0.1, "t/b.py::three": 0.1, "t/b.py::four": 0.1}
    check = SelectionCheck(suite, 3.0, 5.0)

    assert check.after(["t/a.py::two"]) == ["t/a.py::two", "t/b.py::three", "t/b.py::four"]
    assert check.after(["t/b.py::four"]) is None  # nothing runs after it
    assert check.before(["t/b.py::three"]) == ["t/a.py::one", "t/a.py::two", "t/b.py::three"]
    assert check.before(["t/a.py::one", "t/a.py::two"]) == []  # already a prefix: the whole suite next
