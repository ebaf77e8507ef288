"""Elapsed times and "taken after" questions use the monotonic clock: a wall clock stepped back
(NTP correcting a clock that ran fast) made a round's duration negative, and made the main
checkout's shared `git status` scan, taken before the step, count as taken after every later
round: a file an agent then planted in the main checkout was never seen (task merged)."""

from __future__ import annotations

import time
import types
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest

from launcher.app.context import RunContext
from launcher.app.run import containment, pipeline
from launcher.git.repo import GitRepo

HOUR = 3600.0


def test_a_round_s_duration_is_never_negative_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    real = time.time
    started, began = real(), time.monotonic()
    monkeypatch.setattr(time, "time", lambda: real() - 600)  # NTP: the clock was 10 min fast
    elapsed = pipeline._elapsed(started, began)
    assert 0 <= elapsed < 60
    assert pipeline._elapsed(started, None) == 0  # a round an earlier process began: wall clock, clamped


def test_a_file_planted_in_the_main_checkout_after_the_clock_stepped_back_is_found(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = time.time

    async def scenario() -> tuple[list[str], list[str]]:
        ctx = SimpleNamespace(repo=await GitRepo.discover(repo), main_scan=None, scan_lock=anyio.Lock(),
                              main_snapshot=set(), main_contents=None, reported_intrusions=set(),
                              users_edits={}, window_copies={},
                              worktree_root=tmp_path / "trees", files=SimpleNamespace(run_dir=tmp_path))
        ctx.main_status = types.MethodType(RunContext.main_status, ctx)
        monkeypatch.setattr(time, "time", lambda: real() + HOUR)  # the launcher starts with a fast clock
        since = time.time()
        first = await containment.main_tree_intrusions(ctx, since, time.time())  # type: ignore[arg-type]
        monkeypatch.setattr(time, "time", real)  # NTP sets it right
        since = time.time()
        (repo / "sitecustomize.py").write_text("import os\n")  # the next round's agent plants a file
        second = await containment.main_tree_intrusions(ctx, since, time.time())  # type: ignore[arg-type]
        return first, second

    first, second = anyio.run(scenario)
    assert first == []
    assert second == ["sitecustomize.py"]
