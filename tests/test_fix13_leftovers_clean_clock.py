"""`launcher clean --older-than DAYS` goes by when the run ended as the journal recorded it, and a
step of the wall clock since does not change how long ago that was.

It used to compare the run's start and its files' mtimes with `time.time()`: after NTP stepped a
slow clock forward two days, `--older-than 1` deleted the artifacts of a run that had just ended;
after a step back, a run three days old was kept. The journal now records the end by the boot
clock too (it never steps); in the boot that recorded it, that decides. After a reboot only the
wall clock is left. A run that is not finished keeps its artifacts whatever its age."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import anyio
import pytest
from helpers import kill_the_launcher_once_written, launcher_cli
from test_fix10_hist_kept_claims import latest_run, with_agent

from launcher import wall_clock
from launcher.app.clean import clean

DAY_S = 86_400.0


def _folder(repo: Path, run_id: str) -> Path:
    return repo / ".launcher" / "runs" / run_id


def _settled_run(repo: Path) -> str:
    with_agent(repo)
    assert launcher_cli(repo, "run", "--task", "a", "--quiet").returncode == 0
    run_id = latest_run(repo)
    assert _folder(repo, run_id).is_dir()
    return run_id


def _clean_older_than(repo: Path, days: float) -> list[str]:
    return anyio.run(partial(clean, repo, None, all_runs=True, older_than=days))


def _wall_stepped(monkeypatch: pytest.MonkeyPatch, by: float) -> None:
    real: Callable[[], float] = time.time
    monkeypatch.setattr(time, "time", lambda: real() + by)


def _boot_clock_advanced(monkeypatch: pytest.MonkeyPatch, by: float, boot: str | None = None) -> None:
    this_boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()  # Linux's boot clock

    def fake() -> tuple[str | None, float | None]:
        return (boot or this_boot), time.clock_gettime(time.CLOCK_BOOTTIME) + by

    monkeypatch.setattr(wall_clock, "boot_clock", fake, raising=False)


def test_a_run_that_just_ended_keeps_its_artifacts_after_the_clock_steps_two_days_forward(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _settled_run(repo)
    _wall_stepped(monkeypatch, 2 * DAY_S)  # NTP corrects a clock that was two days slow

    said = _clean_older_than(repo, 1)

    assert _folder(repo, run_id).is_dir(), said
    assert not [line for line in said if "artifacts of run" in line], said


def test_a_run_that_ended_three_days_ago_loses_its_artifacts_though_the_clock_stepped_back(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _settled_run(repo)
    _boot_clock_advanced(monkeypatch, 3 * DAY_S)  # three days went by ...
    # ... and the wall clock was stepped back by as much meanwhile: it reads as at the run's end

    said = _clean_older_than(repo, 1)

    assert not _folder(repo, run_id).exists(), said
    assert [line for line in said if line.startswith(f"artifacts of run {run_id} (")], said


def test_after_a_reboot_the_wall_clock_decides(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _settled_run(repo)
    _boot_clock_advanced(monkeypatch, -1e9, boot="another-boot")  # its boot clock means nothing now

    assert _clean_older_than(repo, 1) == [] and _folder(repo, run_id).is_dir()
    _wall_stepped(monkeypatch, 2 * DAY_S)
    said = _clean_older_than(repo, 1)
    assert not _folder(repo, run_id).exists(), said


def test_a_run_that_was_not_finished_keeps_its_artifacts_however_old(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = "echo x > started.txt; sleep 300"
    plan = {"agents": {"sh": {"adapter": "command", "command": ["sh", "-c", agent]}},
            "task": [{"id": "t", "agent": "sh", "prompt": "x"}]}
    run_id, pgid = kill_the_launcher_once_written(repo, tmp_path, plan, "t", "started.txt")
    os.killpg(pgid, signal.SIGKILL)
    _boot_clock_advanced(monkeypatch, 30 * DAY_S)  # a month old by every clock
    _wall_stepped(monkeypatch, 30 * DAY_S)

    said = _clean_older_than(repo, 1)

    assert _folder(repo, run_id).is_dir(), said
    assert [line for line in said if line.startswith(f"kept the artifacts of run {run_id} (")], said
