"""A `launcher workflow cancel` killed (SIGKILL: an MCP server killed mid-`cancel`) before it
removed its `cancelling` marker leaves the marker behind. A foreground `workflow next` stopped
later (Ctrl-C) then says what is true: the phase is interrupted and `launcher workflow resume`
continues it, not that the workflow "is being cancelled"; only a cancel that still runs makes it
say that. Real repositories, the real CLI, a real Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from launcher import process_identity
from launcher.app.workflow.engine import CANCEL_MARK
from tests.helpers import start_launcher, wait_for_file
from tests.test_workflows import _create, _scripts, wf_repo  # noqa: F401  (the fixture)


def _interrupted_next(repo: Path, tmp_path: Path, marker_of: subprocess.Popen[bytes] | None) -> str:
    """What `launcher workflow next` says on stderr when a Ctrl-C stops its phase, with a
    `cancelling` marker written by `marker_of` (None: by a process that is gone)."""
    started, release = tmp_path / "started", tmp_path / "release"
    wait = (f"import os, time; open({str(started)!r}, 'w').close(); "
            f"[time.sleep(0.1) for _ in range(600) if not os.path.exists({str(release)!r})]")
    wid = _create(repo, _scripts(repo, **{"plan-architect": [{"run": [sys.executable, "-c", wait]}]}))
    writer = marker_of or subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    mark = f"{writer.pid} {process_identity.start_time(writer.pid)}\n"
    if marker_of is None:  # the cancel that wrote it was killed
        writer.kill()
        writer.wait()
    (repo / ".launcher" / "workflows" / wid).mkdir(parents=True, exist_ok=True)
    (repo / ".launcher" / "workflows" / wid / CANCEL_MARK).write_text(mark)
    runner = start_launcher(repo, "workflow", "next", wid, "--quiet")
    try:
        wait_for_file(started, runner)
        os.killpg(runner.pid, signal.SIGINT)
        _out, err = runner.communicate(timeout=120)
    finally:
        release.touch()
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.communicate()
    assert runner.returncode == 130, err
    return err


def test_a_stale_cancelling_marker_does_not_make_an_interrupted_phase_say_it_is_being_cancelled(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    err = _interrupted_next(wf_repo, tmp_path, None)
    assert "being cancelled" not in err, err
    assert "interrupted: state saved; `launcher workflow resume" in err and "continues the phase" in err, err


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="start times are read from /proc")
def test_a_live_cancels_marker_still_says_the_workflow_is_being_cancelled(wf_repo: Path,  # noqa: F811
                                                                          tmp_path: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        err = _interrupted_next(wf_repo, tmp_path, live)
    finally:
        live.kill()
        live.wait()
    assert "is being cancelled (`launcher workflow cancel`); this phase is not continued" in err, err
