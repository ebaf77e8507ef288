"""A test run that dies (a signal, exit 126/127 of a custom test command, a KeyboardInterrupt) is
the mutant's doing when the mutant repeats it and the unmutated tree, run in between, passes:
the suite detected the mutant, which is Killed (and cached like any kill), the death named. A
death that does not repeat was the world's, once: the re-run's own verdict stands. A death the
unmutated tree shares is no verdict (tests/test_mutres_outside_stop.py).

Real projects, real sweeps: a shell script whose mutant runs an empty program name, process code
whose mutant signals its own process group, and a signal sent once from outside."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation.model import MutantStatus


def _project(root: Path, files: dict[str, str]) -> Path:
    write_files(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return root


def _sweep(root: Path, paths: list[str], operators: list[str], **options: Any) -> SweepOutcome:
    options.setdefault("timeout_min_s", 20.0)
    opts = SweepOptions(paths=paths, operators=operators, workers=1, python=sys.executable, **options)
    return anyio.run(run_sweep, root, opts, lambda _line: None, None)


SHELL = {
    # The default viewer is the mutant's target: `"${VIEWER:-cat}"` -> `"${VIEWER}"` runs the empty
    # program name, which the shell reports as exit 127 (or 126), and the test (set -e) fails with it.
    "bin/show.sh": '#!/bin/sh\n"${VIEWER:-cat}" "$1"\n',
    "tests/hello.txt": "hello\n",
    "tests/test.sh": '#!/bin/sh\nset -e\ncd "$(dirname "$0")/.."\nout=$(sh bin/show.sh tests/hello.txt)\n'
                     '[ "$out" = hello ]\n',
}


def test_a_shell_mutant_that_makes_its_script_run_a_missing_program_is_killed_and_cached(tmp_path: Path) -> None:
    root = _project(tmp_path / "proj", SHELL)
    first = _sweep(root, ["bin/show.sh"], ["default_removal"], test_cmd="sh tests/test.sh")

    (record,) = first.results
    assert record.status is MutantStatus.KILLED, record.note
    assert "the test command could not run (exit 12" in record.note and "the mutant's doing" in record.note
    assert first.exit_code == 0 and first.score == 100.0

    again = _sweep(root, ["bin/show.sh"], ["default_removal"], test_cmd="sh tests/test.sh", resume=None)
    (record,) = again.results
    assert record.status is MutantStatus.KILLED and record.source == "cached"  # a verdict like any other


PROCESS_CODE = {
    "proc/__init__.py": "",
    # `pid > 0` -> `pid >= 0`: stop(0) sends SIGTERM to its caller's own process group.
    "proc/stop.py": "import os\nimport signal\n\n\ndef stop(pid):\n    if pid > 0:\n"
                    "        os.kill(pid, signal.SIGTERM)\n        return True\n    return False\n",
    "tests/test_stop.py": "from proc.stop import stop\n\n\ndef test_stop_nothing():\n    assert stop(0) is False\n",
}


@pytest.mark.parametrize("use_fork", [True, False], ids=["fork", "generic"])
def test_a_mutant_that_signals_its_own_test_process_is_killed_with_the_signal_named(
    tmp_path: Path, use_fork: bool
) -> None:
    root = _project(tmp_path / "proj", PROCESS_CODE)
    outcome = _sweep(root, ["proc/stop.py"], ["comparison"], use_fork=use_fork)

    (record,) = [r for r in outcome.results if ">=" in r.mutant.mut]
    assert record.status is MutantStatus.KILLED, record.note
    assert "killed by SIGTERM" in record.note and "the mutant's doing" in record.note
    assert not any("unclassified" in note for note in outcome.notes)
    assert outcome.exit_code in (0, 1)  # never 3: nothing is left out of the score


class _OnceFromOutside(threading.Thread):
    """Sends SIGKILL to the first test process that says its pid (as the OOM killer would once),
    then the outside world is quiet."""

    def __init__(self, where: Path) -> None:
        super().__init__(daemon=True)
        self.where, self.sent = where, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set() and not self.sent:
            for said in self.where.glob("pid-*"):
                with_pid = int(said.read_text())
                (self.where / "quiet").touch()
                said.unlink()
                os.kill(with_pid, signal.SIGKILL)
                self.sent += 1
                break
            time.sleep(0.01)


def test_a_death_that_does_not_repeat_gives_the_re_run_verdict(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    test_module = f"""import os, time
from pathlib import Path

from calc.core import add

OUTSIDE = Path({str(outside)!r})


def test_add():
    if add(2, 3) != 5 and not (OUTSIDE / "quiet").exists():  # the mutant's run, while the world is noisy
        (OUTSIDE / f"pid-{{os.getpid()}}").write_text(str(os.getpid()))
        time.sleep(30)
    assert isinstance(add(2, 3), int)
"""
    root = _project(tmp_path / "proj", {"calc/__init__.py": "", "calc/core.py": "def add(a, b):\n    return a + b\n",
                                        "tests/test_core.py": test_module})  # fmt: skip
    killer = _OnceFromOutside(outside)
    killer.start()
    try:
        # A custom command runs the whole suite: nothing but the death's check re-runs it.
        outcome = _sweep(root, ["calc/core.py"], ["arithmetic"],
                         test_cmd=f"exec {sys.executable} -m pytest -q -p no:cacheprovider tests")  # fmt: skip
    finally:
        killer.done.set()
        killer.join()
    assert killer.sent == 1

    (record,) = outcome.results
    assert record.status is MutantStatus.SURVIVED, record.note  # the weak test's true verdict
    assert "killed by SIGKILL" in record.note and "did not reproduce" in record.note
    assert outcome.exit_code == 0
