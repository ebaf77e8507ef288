"""Which tests a mutant runs: every test that can notice it, not only those coverage saw execute
its line (review4 mutation 02, 03). A value computed once and kept for later tests (a session
fixture, a list in the test module) and code a test runs in a child process (a CLI test) are
checked by tests that never execute the line in the pytest process; a mutant they kill must be
Killed, never Survived or NoCoverage."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_mutation_ux import project

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation.model import MutantStatus
from launcher.mutation.results import MutantRecord

PYPROJECT = '[tool.pytest.ini_options]\npythonpath = ["."]\n'


def sweep(root: Path, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 1)
    options.setdefault("python", sys.executable)
    options.setdefault("use_cache", False)
    return anyio.run(run_sweep, root, SweepOptions(**options), lambda _line: None)


def arithmetic(outcome: SweepOutcome, function: str) -> MutantRecord:
    found = [r for r in outcome.results if r.mutant.function == function and r.mutant.fault == "arithmetic"]
    assert len(found) == 1, [(r.mutant.function, r.mutant.fault) for r in outcome.results]
    return found[0]


KEPT_VALUES = {
    "pyproject.toml": PYPROJECT,
    "pkg/__init__.py": "",
    "pkg/core.py": "def by_session_fixture(x):\n    return x - 3\n\n\ndef by_module_state(x):\n    return x - 1\n",
    "tests/conftest.py": (
        "import pytest\n"
        "from pkg import core\n"
        "\n"
        "\n"
        '@pytest.fixture(scope="session")\n'
        "def base():\n"
        "    return core.by_session_fixture(10)\n"
    ),
    # The first test computes the fixture's value (and fills the list); only the later ones check it.
    "tests/test_a.py": (
        "from pkg import core\n"
        "\n"
        "RECORD = []\n"
        "\n"
        "\n"
        "def test_first_uses_base(base):\n"
        "    assert base is not None\n"
        "\n"
        "\n"
        "def test_record():\n"
        "    RECORD.append(core.by_module_state(10))\n"
        "\n"
        "\n"
        "def test_second_checks_base(base):\n"
        "    assert base == 7\n"
        "\n"
        "\n"
        "def test_check_record():\n"
        "    assert RECORD == [9]\n"
    ),
    "tests/test_b.py": "def test_dynamic(request):\n    assert request.getfixturevalue('base') == 7\n",
}


def test_a_value_kept_for_later_tests_is_checked_by_them_on_every_mutant(tmp_path: Path) -> None:
    root = project(tmp_path / "p", KEPT_VALUES)
    outcome = sweep(root, paths=["pkg"])
    fixture = arithmetic(outcome, "by_session_fixture")  # x - 3 -> x + 3: base is 13
    assert fixture.status is MutantStatus.KILLED, (fixture.status, fixture.tests, fixture.note)
    # Every test using the session fixture runs it (asked for by name or by getfixturevalue).
    assert {"tests/test_a.py::test_first_uses_base", "tests/test_a.py::test_second_checks_base",
            "tests/test_b.py::test_dynamic"} <= set(fixture.tests), fixture.tests  # fmt: skip
    state = [r for r in outcome.results if r.mutant.function == "by_module_state" and r.mutant.valid]
    assert state and all(r.status is MutantStatus.KILLED for r in state), [(r.mutant.mut, r.status) for r in state]


CHILD_PROCESSES = {
    "pyproject.toml": PYPROJECT,
    "pkg/__init__.py": "",
    "pkg/core.py": (
        "def only_cli(x):\n"
        "    return x + 100\n"
        "\n"
        "\n"
        "def both(x):\n"
        "    return x * 5\n"
        "\n"
        "\n"
        "def isolated(x):\n"
        "    return x - 7\n"
    ),
    "tests/test_cli.py": (
        "import os\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        "from pkg import core\n"
        "\n"
        "\n"
        "def run(code, *flags):\n"
        '    prelude = "import sys; sys.path.insert(0, " + repr(os.getcwd()) + "); from pkg import core; print("\n'
        '    argv = [sys.executable, *flags, "-c", prelude + code + ")"]\n'
        "    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()\n"
        "\n"
        "\n"
        "def test_cli():\n"
        '    assert run("core.only_cli(1)") == "101"\n'
        '    assert run("core.both(2)") == "10"\n'
        "\n"
        "\n"
        "def test_weak_inprocess():\n"
        "    assert core.both(2) is not None\n"
    ),
    # `python -I` ignores PYTHONPATH and the environment: its coverage cannot be measured.
    "tests/test_isolated.py": (
        'from test_cli import run\n\n\ndef test_isolated_child():\n    assert run("core.isolated(10)", "-I") == "3"\n'
    ),
}


def test_code_a_test_runs_in_a_child_process_is_covered_and_killed_by_it(tmp_path: Path) -> None:
    files = {**CHILD_PROCESSES, "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = [".", "tests"]\n'}
    root = project(tmp_path / "p", files)
    outcome = sweep(root, paths=["pkg/core.py"])
    assert not [r for r in outcome.results if r.status is MutantStatus.NO_COVERAGE], [
        (r.mutant.function, r.mutant.mut, r.note) for r in outcome.results if r.status is MutantStatus.NO_COVERAGE
    ]
    only_cli, both = arithmetic(outcome, "only_cli"), arithmetic(outcome, "both")
    for record in (only_cli, both):
        assert record.status is MutantStatus.KILLED, (record.mutant.function, record.status, record.note)
        assert "tests/test_cli.py::test_cli" in record.killed_by, record.killed_by
    assert "tests/test_cli.py::test_cli" in only_cli.tests, only_cli.tests  # the report's coveredBy
    # The isolated child was not measured: its test is selected for every mutant, and kills this one.
    isolated = arithmetic(outcome, "isolated")
    assert isolated.status is MutantStatus.KILLED, (isolated.status, isolated.note)
    assert "tests/test_isolated.py::test_isolated_child" in isolated.killed_by, isolated.killed_by


def _running(mark: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and mark.encode() in (entry / "cmdline").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                found += [int(entry.name)] if state != "Z" else []
        except OSError:
            continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the child subreaper is Linux's")
def test_a_timed_out_mutant_leaves_no_process_its_test_started_in_a_session_of_its_own(tmp_path: Path) -> None:
    # review4 mutation 05: `LIMIT = 6 -> 7` makes the test's child (started with
    # start_new_session, as CLI and server tests do) loop forever; the run times out and is
    # killed, and the child, out of the run's process group, must not outlive the sweep.
    mark = f"LAUNCHER_TEST_ORPHAN_{tmp_path.name}"
    files = {
        "pyproject.toml": PYPROJECT,
        "pkg/__init__.py": "",
        "pkg/core.py": "LIMIT = 6\n\n\ndef spin():\n    i = 0\n    while i != LIMIT:\n        i += 2\n    return i\n",
        "tests/test_spin.py": (
            "import subprocess\n"
            "import sys\n"
            "\n"
            "from pkg import core  # noqa: F401\n"
            "\n"
            "\n"
            "def test_spin_in_child():\n"
            '    argv = [sys.executable, "-c", "from pkg import core; print(core.spin())", ' + repr(mark) + "]\n"
            "    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)\n"
            '    assert child.communicate()[0].strip() == "6"\n'
        ),
    }
    root = project(tmp_path / "p", files)
    try:
        outcome = sweep(root, paths=["pkg/core.py"], operators=["number"], timeout_min_s=1.0, timeout_factor=2.0)
        limit = [r for r in outcome.results if r.mutant.line == 1 and r.mutant.mut == "LIMIT = 7"]
        assert limit and limit[0].status is MutantStatus.TIMEOUT, [(r.mutant.mut, r.status) for r in outcome.results]
        time.sleep(0.5)
        assert _running(mark) == [], "the timed-out runs' children still run after the sweep"
    finally:
        for pid in _running(mark):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
