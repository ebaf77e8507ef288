"""The selection check's cost is bounded (regress16 finding 3).

A survivor of a narrowed selection is confirmed with the later tests that may read what the
mutated code leaves behind -- those that reach a module where such state can live -- not with
every test the suite runs after its first selected one. A later test that reaches none (a module
of its own, importing nothing the mutated code reaches) runs once per sweep (the coverage run),
however many mutants survive; a later test that can read the state still kills the mutant.

Real projects, real sweeps; the later tests count their own runs in a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files

from launcher import process
from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation.discover import mutants_for_file
from launcher.mutation.executor import MutantJob
from launcher.mutation.model import MutantStatus
from launcher.mutation.selection_check import SelectionCheck


def _project(root: Path, files: dict[str, str]) -> Path:
    write_files(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return root


def _sweep(root: Path, paths: list[str], operators: list[str], **options: Any) -> SweepOutcome:
    options.setdefault("timeout_min_s", 20.0)
    options.setdefault("use_cache", False)
    opts = SweepOptions(paths=paths, operators=operators, workers=1, python=sys.executable, **options)
    return anyio.run(run_sweep, root, opts, lambda _line: None, None)


def _counting_tests(counter: Path, n: int) -> str:
    """`n` tests that never touch the project: each appends one character to `counter`."""
    return "".join(f"def test_unrelated_{i}():\n    with open({str(counter)!r}, 'a') as f:\n        f.write('x')\n\n\n"
                   for i in range(n))  # fmt: skip


def _runs(counter: Path, n: int) -> int:
    """How many times the `n` counting tests ran (each run of all of them writes `n` characters)."""
    return len(counter.read_text()) // n if counter.exists() else 0


@pytest.mark.parametrize("use_fork", [True, False], ids=["fork", "generic"])
def test_survivors_do_not_rerun_later_tests_that_cannot_see_the_mutated_code(tmp_path: Path, use_fork: bool) -> None:
    counter = tmp_path / "unrelated_runs.txt"
    root = _project(tmp_path / "proj", {
        "pkg/__init__.py": "",
        "pkg/m.py": "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(4)),
        "tests/test_a.py": "from pkg import m\n\n\ndef test_calls():\n"
                           + "".join(f"    m.f{i}(1)\n" for i in range(4)),  # runs every line, checks nothing
        "tests/test_b.py": _counting_tests(counter, 5),
    })  # fmt: skip
    outcome = _sweep(root, ["pkg/m.py"], ["number"], use_fork=use_fork)

    assert len(outcome.results) >= 4 and {r.status for r in outcome.results} == {MutantStatus.SURVIVED}
    assert _runs(counter, 5) == 1  # the coverage run only (unbounded: once more per survivor)
    assert all("confirmed in a fresh process" not in r.note for r in outcome.results)


MODULE_STATE = {
    "pkg/__init__.py": "",
    "pkg/config.py": "LEVEL = 1\n\n\ndef level_name():\n    return {1: 'low', 5: 'high'}.get(LEVEL, '?')\n",
    "pkg/app.py": "from pkg import config\n\n\ndef boost():\n    config.LEVEL = 5\n",
    "tests/test_app.py": "from pkg import app\n\n\ndef test_boost():\n    app.boost()\n",
    "tests/test_config.py": "from pkg import config\n\n\ndef test_level_after_boost():\n"
                            "    assert config.level_name() == 'high'\n",
}  # fmt: skip


def test_a_later_test_reading_another_modules_attribute_still_kills_and_an_unrelated_one_stays_out(
    tmp_path: Path,
) -> None:
    counter = tmp_path / "unrelated_runs.txt"
    root = _project(tmp_path / "proj", {**MODULE_STATE, "tests/test_zz.py": _counting_tests(counter, 3)})
    outcome = _sweep(root, ["pkg/app.py"], ["number"])

    (record,) = [r for r in outcome.results if "config.LEVEL = 6" in r.mutant.mut]
    assert record.status is MutantStatus.KILLED, record.note
    assert "confirmed in a fresh process with the 2 test(s)" in record.note  # test_boost, test_level_after_boost
    assert _runs(counter, 3) == 1


def test_process_state_read_by_a_later_test_of_another_file_still_kills(tmp_path: Path) -> None:
    root = _project(tmp_path / "proj", {
        "pkg/__init__.py": "",
        "pkg/env.py": "import os\n\n\ndef setup():\n    os.environ['APP_LEVEL'] = 'high'\n",
        "tests/test_a.py": "from pkg import env\n\n\ndef test_setup():\n    env.setup()\n",
        "tests/test_b.py": "import os\n\n\ndef test_level():\n    assert os.environ.get('APP_LEVEL') == 'high'\n",
    })  # fmt: skip
    outcome = _sweep(root, ["pkg/env.py"], ["string"])

    (record,) = [r for r in outcome.results if "XXhighXX" in r.mutant.mut]
    assert record.status is MutantStatus.KILLED, record.note


def test_state_kept_by_an_object_of_the_mutated_module_reaches_a_test_importing_it_elsewhere(tmp_path: Path) -> None:
    root = _project(tmp_path / "proj", {
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
    root = _project(tmp_path / "proj", {
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


def test_a_conftest_of_function_scoped_fixtures_passes_nothing_on_to_later_tests(tmp_path: Path) -> None:
    counter = tmp_path / "unrelated_runs.txt"
    root = _project(tmp_path / "proj", {
        "pkg/__init__.py": "",
        "pkg/m.py": "def f(x):\n    return x + 1\n",
        "tests/conftest.py": "import pytest\n\n\n@pytest.fixture\ndef one():\n    return 1\n",
        "tests/test_a.py": "from pkg import m\n\n\ndef test_calls(one):\n    m.f(one)\n",
        "tests/test_b.py": "def test_uses_the_fixture(one):\n    with open(" + repr(str(counter)) + ", 'a') as f:\n"
                           "        f.write('x')\n",
    })  # fmt: skip
    outcome = _sweep(root, ["pkg/m.py"], ["number"], use_fork=False)

    assert {r.status for r in outcome.results} == {MutantStatus.SURVIVED}
    assert _runs(counter, 1) == 1


def test_a_session_fixture_carries_the_mutants_value_to_a_later_test_file(tmp_path: Path) -> None:
    root = _project(tmp_path / "proj", {
        "pkg/__init__.py": "",
        "pkg/m.py": "def f(x):\n    return x + 1\n",
        "tests/conftest.py": "import pytest\n\n\n@pytest.fixture(scope='session')\ndef box():\n    return {}\n",
        "tests/test_a.py": "from pkg import m\n\n\ndef test_store(box):\n    box['v'] = m.f(1)\n",
        "tests/test_b.py": "def test_read(box):\n    assert box.get('v') == 2\n",
    })  # fmt: skip
    outcome = _sweep(root, ["pkg/m.py"], ["number"], use_fork=False)

    (record,) = [r for r in outcome.results if "x + 2" in r.mutant.mut]
    assert record.status is MutantStatus.KILLED, record.note
