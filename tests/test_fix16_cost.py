"""What a narrowed survivor's confirmation must keep finding, and a clean run under load.

A survivor of a narrowed selection is confirmed with every test the suite runs after its first
selected one: a later test may read what the mutated code left behind in ANY module object
(another module's attribute, a function replaced in a module of plain functions, the process
environment, a session fixture). A cheaper rule that skipped later tests by a static guess of
where state can live reported such a mutant `Survived` while the whole suite killed it, so it was
not kept (regress16 finding 3 stays open: the cost is one confirmation run per narrowed
survivor). A clean run of a selection that times out (a busy machine) is run once more before the
sweep keeps it as failing. Real projects, real sweeps."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
from swept import project, sweep

from launcher import process
from launcher.app.mutation.sweep import SweepOutcome
from launcher.mutation.discover import mutants_for_file
from launcher.mutation.executor import MutantJob
from launcher.mutation.model import MutantStatus
from launcher.mutation.selection_check import SelectionCheck


def _sweep(root: Path, paths: list[str], operators: list[str], **options: Any) -> SweepOutcome:
    options.setdefault("use_cache", False)
    return sweep(root, paths, operators, **options)


def test_process_state_read_by_a_later_test_of_another_file_still_kills(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", {
        "pkg/__init__.py": "",
        "pkg/env.py": "import os\n\n\ndef setup():\n    os.environ['APP_LEVEL'] = 'high'\n",
        "tests/test_a.py": "from pkg import env\n\n\ndef test_setup():\n    env.setup()\n",
        "tests/test_b.py": "import os\n\n\ndef test_level():\n    assert os.environ.get('APP_LEVEL') == 'high'\n",
    })  # fmt: skip
    outcome = _sweep(root, ["pkg/env.py"], ["string"])

    (record,) = [r for r in outcome.results if "XXhighXX" in r.mutant.mut]
    assert record.status is MutantStatus.KILLED, record.note


def test_state_kept_by_an_object_of_the_mutated_module_reaches_a_test_importing_it_elsewhere(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", {
        "pkg/__init__.py": "",
        "pkg/settings.py": "class Settings:\n    def __init__(self):\n        self.precision = 2\n\n\n"
                           "SETTINGS = Settings()\n",
        "pkg/tune.py": "from pkg.settings import SETTINGS\n\n\ndef high():\n    SETTINGS.precision = 6\n",
        "tests/test_a.py": "from pkg import tune\n\n\ndef test_high():\n    tune.high()\n",
        "tests/test_b.py": "from pkg.settings import SETTINGS\n\n\ndef test_precision():\n"
                           "    assert SETTINGS.precision == 6\n",  # reads the attribute: runs no project line
    })  # fmt: skip
    outcome = _sweep(root, ["pkg/tune.py"], ["number"])

    (record,) = [r for r in outcome.results if "precision = 7" in r.mutant.mut]
    assert record.status is MutantStatus.KILLED, record.note


class _PytestRunner:
    """Runs the selection with pytest in `root`, as the generic executor's clean runs do."""

    def __init__(self, root: Path) -> None:
        self.root, self.runs = root, 0

    async def run_unmutated(self, tests: Any, timeout: float) -> Any:
        self.runs += 1
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
        return await process.run(argv, cwd=self.root, timeout=timeout)


def test_a_clean_run_that_times_out_once_under_load_is_not_kept_as_failing_for_the_sweep(tmp_path: Path) -> None:

    busy = tmp_path / "busy-once"
    busy.write_text("")
    root = project(tmp_path / "proj", {
        "pkg/m.py": "X = 1\n",
        "tests/test_s.py": "import os, time\n\n\ndef test_first():\n    pass\n\n\n"
                           f"def test_slow_once():\n    if os.path.exists({str(busy)!r}):\n"
                           f"        os.remove({str(busy)!r})\n        time.sleep(30)\n",
    })  # fmt: skip
    check = SelectionCheck({"tests/test_s.py::test_first": 0.0, "tests/test_s.py::test_slow_once": 0.0}, 3.0, 5.0)
    mutant = mutants_for_file(root, "pkg/m.py", ["number"])[0]
    job = MutantJob(mutant=mutant, tests=["tests/test_s.py::test_slow_once"], timeout_s=6.0)
    runner = _PytestRunner(root)

    assert anyio.run(check.passes_clean, runner, job)  # the first run timed out (the machine was busy)
    assert anyio.run(check.passes_clean, runner, job) and runner.runs == 2  # the answer is kept


def test_a_session_fixture_carries_the_mutants_value_to_a_later_test_file(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", {
        "pkg/__init__.py": "",
        "pkg/m.py": "def f(x):\n    return x + 1\n",
        "tests/conftest.py": "import pytest\n\n\n@pytest.fixture(scope='session')\ndef box():\n    return {}\n",
        "tests/test_a.py": "from pkg import m\n\n\ndef test_store(box):\n    box['v'] = m.f(1)\n",
        "tests/test_b.py": "def test_read(box):\n    assert box.get('v') == 2\n",
    })  # fmt: skip
    outcome = _sweep(root, ["pkg/m.py"], ["number"], use_fork=False)

    (record,) = [r for r in outcome.results if "x + 2" in r.mutant.mut]
    assert record.status is MutantStatus.KILLED, record.note


def test_a_function_replaced_in_a_module_of_plain_functions_is_seen_by_a_later_test(tmp_path: Path) -> None:
    """The mutant makes `install("off")` replace `helpers.greet`; only a later test file, which
    imports the plain-function module and not the mutated one, sees it: the whole suite kills it."""
    root = project(tmp_path / "proj", {
        "pkg/__init__.py": "",
        "pkg/helpers.py": "def greet():\n    return 'hi'\n",
        "pkg/core.py": "from pkg import helpers\n\n\ndef install(mode):\n    if mode == 'on':\n"
                       "        helpers.greet = lambda: 'patched'\n    return mode\n",
        "tests/test_a.py": "from pkg import core\n\n\ndef test_install():\n    assert core.install('off') == 'off'\n",
        "tests/test_b.py": "from pkg import helpers\n\n\ndef test_greet():\n    assert helpers.greet() == 'hi'\n",
    })  # fmt: skip
    outcome = _sweep(root, ["pkg/core.py"], ["comparison"], use_fork=False)

    (record,) = [r for r in outcome.results if "mode != 'on'" in r.mutant.mut]
    assert record.status is MutantStatus.KILLED, record.note
