"""A mutant's test run stopped from outside the launcher, or whose test command could not run,
says nothing about the mutant: it is never recorded Killed (nor Survived), never cached as a
verdict, and the sweep says so (RuntimeError with the reason, exit status 3). The same sweep run
again once the interference is over gives the mutants' true verdicts.

The outside world is played by this test: from the moment the mutants start running, it sends a
signal to every test process (as the OOM killer on a machine out of memory, or a CI runner or
service manager stopping every process, would), so the unmutated tree's run that checks whose
doing the death was dies too; or it takes away the interpreter a custom test command names (a
virtualenv being recreated). A death the unmutated tree does not share and the mutant repeats is
the mutant's own (tests/test_fix11_mutation_deaths.py)."""

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
from helpers import start_launcher

from launcher.app.mutation.progress import LineListener
from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation.model import MutantStatus


def _test_module(outside: Path) -> str:
    # Under the mutant (`a - b`: add(2, 3) is -1), or on any tree once the outside world is noisy,
    # the test says its pid and waits, until the outside world is quiet. Its assertion is weak:
    # without interference the mutant survives.
    return f"""import os, signal, time
from pathlib import Path

from calc.core import add

OUTSIDE = Path({str(outside)!r})


def test_add():
    if (add(2, 3) != 5 or (OUTSIDE / "noisy").exists()) and not (OUTSIDE / "quiet").exists():
        signal.signal(signal.SIGINT, signal.default_int_handler)  # interruptible, as in a terminal
        said = OUTSIDE / f".{{os.getpid()}}"
        said.write_text(str(os.getpid()))
        said.rename(OUTSIDE / f"pid-{{os.getpid()}}")
        time.sleep(30)
    assert isinstance(add(2, 3), int)
"""


class Outside(threading.Thread):
    """Sends `sig` to every test process that says its pid (until stopped)."""

    def __init__(self, where: Path, sig: int) -> None:
        super().__init__(daemon=True)
        self.where, self.sig, self.sent = where, sig, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for said in self.where.glob("pid-*"):
                pid = int(said.read_text())
                said.unlink()
                try:
                    os.kill(pid, self.sig)
                except ProcessLookupError:
                    continue
                self.sent += 1
            time.sleep(0.01)


def _project(tmp_path: Path, outside: Path) -> Path:
    root = tmp_path / "proj"
    write_files(root, {"calc/__init__.py": "", "calc/core.py": "def add(a, b):\n    return a + b\n",
                       "tests/test_core.py": _test_module(outside)})  # fmt: skip
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "calc")
    return root


def _sweep(root: Path, listener: Any = None, **options: Any) -> SweepOutcome:
    options.setdefault("timeout_min_s", 20.0)
    opts = SweepOptions(paths=["calc/core.py"], operators=["arithmetic"], workers=1, python=sys.executable,
                        **options)  # fmt: skip
    return anyio.run(run_sweep, root, opts, lambda _line: None, listener)


class _Noisy(LineListener):
    """When the mutants start running (the clean run and the sanity probes passed), every test
    process is stopped from outside, the mutant's and the unmutated tree's alike."""

    def __init__(self, outside: Path) -> None:
        super().__init__(lambda _line: None)
        self.outside = outside

    def running(self, jobs: int, workers: int) -> None:
        (self.outside / "noisy").touch()


def _sweep_stopped_from_outside(tmp_path: Path, sig: signal.Signals, **options: Any) -> SweepOutcome:
    """A sweep whose test processes get `sig` from outside the launcher while its mutants run."""
    outside = tmp_path / "outside"
    outside.mkdir()
    root = _project(tmp_path, outside)
    stopper = Outside(outside, sig)
    stopper.start()
    try:
        outcome = _sweep(root, _Noisy(outside), **options)
    finally:
        stopper.done.set()
        stopper.join()
    assert stopper.sent >= 1, "the mutant's tests never ran"
    return outcome


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL, signal.SIGTERM], ids=lambda s: s.name)
def test_a_pytest_run_stopped_by_a_signal_from_outside_is_no_verdict_and_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: signal.Signals
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = _sweep_stopped_from_outside(tmp_path, sig)

    (record,) = first.results
    assert record.status is MutantStatus.RUNTIME_ERROR, (record.status, record.note)
    said = "interrupted (KeyboardInterrupt" if sig == signal.SIGINT else f"killed by {sig.name}"
    assert said in record.note and "no verdict" in record.note
    assert first.exit_code == 3  # unclassified: left out of the score, and said
    assert any("unclassified (RuntimeError)" in note for note in first.notes)

    (tmp_path / "outside" / "quiet").touch()  # the interference is over: the same sweep again
    again = _sweep(tmp_path / "proj")
    (record,) = again.results
    assert record.status is MutantStatus.SURVIVED, record.note  # its true verdict: nothing was cached
    assert again.exit_code == 0


class _TakesTheInterpreterAway(LineListener):
    """When the mutants start running (the clean run and the sanity probes passed), the program
    the test command names goes away (`how`: "removed" or "not executable")."""

    def __init__(self, program: Path, how: str) -> None:
        super().__init__(lambda _line: None)
        self.program, self.how = program, how

    def running(self, jobs: int, workers: int) -> None:
        if self.how == "removed":
            self.program.unlink()
        else:
            self.program.chmod(0o644)


@pytest.mark.parametrize("how", ["removed", "not executable"])
def test_a_custom_test_command_that_cannot_run_is_no_verdict_and_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "quiet").touch()  # no signals here
    root = _project(tmp_path, outside)
    program = tmp_path / "venv" / "python"
    program.parent.mkdir()
    program.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    program.chmod(0o755)
    test_cmd = f"{program} -m pytest -q -p no:cacheprovider tests"

    first = _sweep(root, _TakesTheInterpreterAway(program, how), test_cmd=test_cmd)

    (record,) = first.results
    code = 127 if how == "removed" else 126
    assert record.status is MutantStatus.RUNTIME_ERROR, (record.status, record.note)
    assert f"the test command could not run (exit {code}" in record.note
    assert first.exit_code == 3

    program.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')  # the virtualenv is back
    program.chmod(0o755)
    again = _sweep(root, test_cmd=test_cmd)
    (record,) = again.results
    assert record.status is MutantStatus.SURVIVED, record.note


@pytest.mark.parametrize("shape", ["exec {}", "{}; exit $?"], ids=["exec", "shell-waits"])
def test_a_custom_test_command_killed_from_outside_is_no_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """The OOM killer's SIGKILL: status -9 when the shell exec'd pytest, 137 when it waited."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = _sweep_stopped_from_outside(
        tmp_path, signal.SIGKILL, test_cmd=shape.format(f"{sys.executable} -m pytest -q -p no:cacheprovider tests"))

    (record,) = first.results
    assert record.status is MutantStatus.RUNTIME_ERROR, (record.status, record.note)
    assert "killed by SIGKILL" in record.note
    assert first.exit_code == 3


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_a_sweep_stopped_while_a_mutant_runs_records_no_verdict_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str
) -> None:
    """The launcher's own stop (Ctrl-C to its terminal's group, or SIGTERM to it): the test runs
    are in sessions of their own, so they see no signal from the terminal; the launcher cancels
    the run and kills its group, and what that run would have said is never recorded. Running
    the sweep again measures the mutant."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    outside = tmp_path / "outside"
    outside.mkdir()
    root = _project(tmp_path, outside)
    sweep = start_launcher(root, "mutation", "sweep", "calc/core.py", "--operators", "arithmetic", "--workers", "1",
                           "--python", sys.executable, env={"XDG_CACHE_HOME": str(cache)})  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(outside.glob("pid-*")) and sweep.poll() is None:
        assert time.monotonic() < deadline, "the mutant's tests never ran"
        time.sleep(0.02)
    if stop == "ctrl-c":
        os.killpg(sweep.pid, signal.SIGINT)
    else:
        os.kill(sweep.pid, signal.SIGTERM)
    out, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 130, (out, err)
    assert "launcher mutation sweep --resume" in out + err

    (outside / "quiet").touch()
    again = _sweep(root, timeout_min_s=5.0)  # the same options: the stopped sweep, resumed
    (record,) = again.results
    assert again.resumed and record.status is MutantStatus.SURVIVED, record.note
