"""Which process a recorded pid names: the launcher that recorded it, not a newer process the
kernel gave the same pid, and not an unrelated program."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from launcher import process_identity


@contextmanager
def _running(*argv: str) -> Iterator[int]:
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/proc/{proc.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # until its exec has finished: /proc shows an empty argv before
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


_IDLE = "import time; time.sleep(60)"


@pytest.mark.parametrize("module", ["launcher", "launcher.cli.main"])
def test_a_process_running_launcher_as_a_module_is_a_launcher(module: str) -> None:
    # `-c` runs first and sleeps; the rest of argv is what /proc shows, as for `python -m MODULE`
    with _running(sys.executable, "-c", _IDLE, "-m", module) as pid:
        assert process_identity.is_launcher(pid) is True


@pytest.mark.parametrize("module", ["launchers", "mylauncher.cli"])
def test_an_unrelated_program_is_not_a_launcher(module: str) -> None:
    with _running(sys.executable, "-c", _IDLE, "-m", module) as pid:
        assert process_identity.is_launcher(pid) is False


def test_a_live_process_is_alive_only_with_its_own_start_time() -> None:
    with _running("sleep", "60") as pid:
        started = process_identity.start_time(pid)
        assert started is not None
        assert process_identity.alive(pid, started) is True
        assert process_identity.alive(pid, started - 1) is False  # an older process with this pid
    assert process_identity.alive(pid, started) is False  # gone
