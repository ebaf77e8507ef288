"""Session 18, mutexit18: "Survived" means the tests ran to the end and passed, not "exit 0".

A mutant can end a pytest run with status 0 before its tests ran: code under test that calls
`os._exit(0)`, or a conftest / fixture that now reaches `pytest.exit(..., returncode=0)` ("no tests
ran", exit 0). Applied by hand, the suite never completes; a sweep must not call it a survivor,
whichever executor runs it (the fork executor, the zygote, or a fresh `python -m pytest`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from swept import project, sweep
from swept import record as the_record

from launcher.app.mutation.sweep import SweepOutcome
from launcher.mutation.model import MutantStatus
from launcher.mutation.results import MutantRecord

# A conftest stops the run (exit 0, "no tests ran") when the environment is not ready.
STOPPER = {
    "pkg/__init__.py": "",
    "pkg/core.py": "def ready(level):\n    return level > 2\n\n\ndef double(x):\n    return x * 2\n",
    "tests/conftest.py": "import pytest\n\nfrom pkg.core import ready\n\n\n"
                         "def pytest_collection_finish(session):\n    if not ready(5):\n"
                         "        pytest.exit('environment not ready: nothing to test', returncode=0)\n",
    "tests/test_core.py": "from pkg.core import double\n\n\ndef test_double():\n    assert double(2) == 4\n",
}  # fmt: skip

# The same stop, reached from a fixture while the tests run (the fork executor's own route).
FIXTURE_STOPPER = {
    "pkg/__init__.py": "",
    "pkg/core.py": "def ready(level):\n    return level > 2\n",
    "tests/test_core.py": "import pytest\n\nfrom pkg.core import ready\n\n\n@pytest.fixture(autouse=True)\n"
                          "def guard():\n    if not ready(5):\n        pytest.exit('not ready', returncode=0)\n\n\n"
                          "def test_runs():\n    assert True\n",
}  # fmt: skip

EXITER = {
    "pkg/__init__.py": "",
    "pkg/core.py": "import os\n\n\ndef exit_zero(x):\n    if x >= 3:\n        return x\n    os._exit(0)\n",
    "tests/test_core.py": "from pkg.core import exit_zero\n\n\ndef test_three():\n    assert exit_zero(3) == 3\n",
}  # fmt: skip


def _ready_returns_none(outcome: SweepOutcome) -> MutantRecord:
    (found,) = [r for r in outcome.results if r.mutant.function == "ready" and "return None" in r.mutant.mut]
    return found


def test_a_mutant_that_makes_a_conftest_stop_the_run_with_status_0_is_killed_not_survived(tmp_path: Path) -> None:
    root = project(tmp_path / "p", STOPPER)
    found = _ready_returns_none(sweep(root, ["pkg/core.py"], ["return_value"]))
    assert found.status is MutantStatus.KILLED, found
    assert "before its tests finished" in found.note and "not ready" in found.note, found.note


def test_the_same_stop_is_killed_in_a_fresh_pytest_process_without_the_zygote(tmp_path: Path) -> None:
    root = project(tmp_path / "p", STOPPER)
    found = _ready_returns_none(sweep(root, ["pkg/core.py"], ["return_value"], use_fork=False))
    assert found.status is MutantStatus.KILLED, found


def test_os_exit_0_in_a_fresh_pytest_process_without_the_zygote_is_killed_not_survived(tmp_path: Path) -> None:
    root = project(tmp_path / "p", EXITER)
    found = the_record(sweep(root, ["pkg/core.py"], ["comparison"], use_fork=False), "x > 3")
    assert found.status is MutantStatus.KILLED, found
    assert "session never finished" in found.note, found.note


def test_a_stop_reached_from_a_fixture_while_the_tests_run_is_killed_too(tmp_path: Path) -> None:
    # The fork executor's run exits 0 here; its survivor is re-checked in a fresh test process,
    # whose session record says the run was stopped.
    root = project(tmp_path / "p", FIXTURE_STOPPER)
    found = the_record(sweep(root, ["pkg/core.py"], ["return_value"]), "return None")
    assert found.status is MutantStatus.KILLED, found
    assert "not ready" in found.note, found.note


def test_a_complete_run_and_a_run_without_the_plugin_keep_their_exit_status(tmp_path: Path) -> None:
    from launcher.mutation import order_plugin, session_record  # (new in this fix)

    record = tmp_path / "session.jsonl"
    assert session_record.unfinished(record) is None  # no record: the exit status stands
    record.write_text(json.dumps({"ev": "start", "pid": 1}) + "\n" + json.dumps({"ev": "finish", "pid": 1}) + "\n")
    assert session_record.unfinished(record) is None
    record.write_text(json.dumps({"ev": "start", "pid": 1}) + "\n")
    assert session_record.unfinished(record) is not None
    record.write_text(json.dumps({"ev": "start"}) + "\n" + json.dumps({"ev": "stopped", "what": "Exit: x"}) + "\n")
    assert session_record.unfinished(record) == "pytest was stopped (Exit: x)"
    assert order_plugin.RECORD_ENV == session_record.RECORD_ENV  # the copied plugin cannot import ours


PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"


def test_a_custom_pytest_command_ended_by_os_exit_0_is_killed_not_survived(tmp_path: Path) -> None:
    root = project(tmp_path / "p", EXITER)
    found = the_record(sweep(root, ["pkg/core.py"], ["comparison"], test_cmd=PYTEST), "x > 3")
    assert found.status is MutantStatus.KILLED, found
    assert "session never finished" in found.note, found.note


def test_a_custom_command_stopped_by_pytest_exit_with_status_0_is_killed(tmp_path: Path) -> None:
    root = project(tmp_path / "p", STOPPER)
    found = _ready_returns_none(sweep(root, ["pkg/core.py"], ["return_value"], test_cmd=PYTEST))
    assert found.status is MutantStatus.KILLED, found
    assert "not ready" in found.note, found.note


def test_a_custom_command_that_replaces_pythonpath_still_runs_and_the_sweep_says_what_it_cannot_see(
    tmp_path: Path,
) -> None:
    root = project(tmp_path / "p", EXITER)
    outcome = sweep(root, ["pkg/core.py"], ["comparison"], test_cmd=f"PYTHONPATH=. {PYTEST}")
    assert the_record(outcome, "x > 3").status is MutantStatus.SURVIVED  # its exit status
    assert any("cannot import the launcher's plugin" in note for note in outcome.notes), outcome.notes


def test_a_pytest_run_a_test_starts_and_stops_on_purpose_does_not_kill_the_mutant(tmp_path: Path) -> None:
    # A test of a pytest plugin runs an inner pytest that stops itself (exit 0): that inner run
    # is not the one judged; only the outermost session of the test command records.
    files = {
        **{k: v for k, v in STOPPER.items() if k != "tests/conftest.py"},
        "inner/conftest.py": "import pytest\n\n\ndef pytest_collection_finish(session):\n"
                             "    pytest.exit('inner stop', returncode=0)\n",
        "inner/test_inner.py": "def test_never():\n    assert False\n",
        "tests/test_runs_pytest.py": "import subprocess, sys\n\nfrom pkg.core import ready\n\n\n"
                                     "def test_inner_run_stops_itself():\n    assert ready(5)\n"
                                     "    done = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p',\n"
                                     "                           'no:cacheprovider', 'inner'], capture_output=True)\n"
                                     "    assert done.returncode == 0\n",
        "pytest.ini": "[pytest]\ntestpaths = tests\n",
    }  # fmt: skip
    root = project(tmp_path / "p", files)
    for command in (None, PYTEST):
        found = the_record(sweep(root, ["pkg/core.py"], ["comparison"], test_cmd=command), "level >= 2")
        assert found.status is MutantStatus.SURVIVED, (command, found)


def test_a_suite_that_stops_itself_on_the_unmutated_tree_too_gives_its_survivors_no_false_kill(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/core.py": "def square(x):\n    return x ** 2\n",
        "tests/test_core.py": "import pytest\n\nfrom pkg.core import square\n\n\ndef test_square_then_stop():\n"
                              "    assert square(2) == 4\n    pytest.exit('the rest needs a database', returncode=0)\n",
    }  # fmt: skip
    root = project(tmp_path / "p", files)
    for command in (None, PYTEST):
        found = the_record(sweep(root, ["pkg/core.py"], ["arithmetic"], test_cmd=command), "x * 2")
        assert found.status is MutantStatus.SURVIVED, (command, found)  # 2 ** 2 == 2 * 2: no test kills it


# A leak check at exit: `python -m pytest` exits 3 when something is left open (CI fails).
LEAK_CHECK = {
    "pkg/__init__.py": "",
    "pkg/core.py": "import atexit\nimport os\n\nOPEN = []\n\n\ndef acquire(n):\n    OPEN.append(n)\n"
                   "    if n >= 0:\n        OPEN.remove(n)\n\n\n@atexit.register\ndef _leak_check():\n"
                   "    if OPEN:\n        print('leaked:', OPEN, flush=True)\n        os._exit(3)\n",
    "tests/test_core.py": "from pkg.core import acquire\n\n\ndef test_acquire():\n    acquire(0)\n",
}  # fmt: skip


def test_a_mutant_that_an_exit_handler_fails_the_run_on_is_killed_as_in_a_fresh_python_m_pytest(
    tmp_path: Path,
) -> None:
    # The forked test processes ended with os._exit and skipped the atexit handlers: Survived,
    # while `python -m pytest` (and the same sweep with a custom test command) exits 3.
    root = project(tmp_path / "p", LEAK_CHECK)
    for command in (None, PYTEST):
        found = the_record(sweep(root, ["pkg/core.py"], ["comparison"], test_cmd=command), "n > 0")
        assert found.status is MutantStatus.KILLED, (command, found)
