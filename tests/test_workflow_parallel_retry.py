"""`launcher workflow resume --retry-failed` of phases run side by side (`parallel_with`), one of
which succeeded (its work landed) while the other failed: only the failed phase is retried. The
succeeded one is never shown `running` again, and its record (times, artifacts) is not redone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import anyio

from launcher.app.workflow import engine
from tests.conftest import git
from tests.test_workflow_parallel_skip import _status, par_repo  # noqa: F401  (the fixture)


def test_retrying_a_failed_parallel_phase_leaves_the_succeeded_one_alone(
    par_repo: Path, tmp_path: Path  # noqa: F811
) -> None:
    fixed, hold = tmp_path / "fixed", tmp_path / "hold"
    gated = (f"import os, sys, time\nif not os.path.exists({str(fixed)!r}): sys.exit(1)\n"
             f"while os.path.exists({str(hold)!r}): time.sleep(0.1)\n")
    scripts = {
        "p1-one": [{"write": "one.txt", "content": "one\n"}],
        "p2-two": [{"run": [sys.executable, "-c", gated]}, {"write": "two.txt", "content": "two\n"}],
        "p3-three": [{"write": "three.txt", "content": "three\n"}],
    }
    wid = anyio.run(engine.create, par_repo, "par", {}, {"scripts": scripts}).id
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    first = subprocess.run([sys.executable, "-m", "launcher", "workflow", "next", wid, "--quiet"],
                           cwd=par_repo, env=env, capture_output=True, text=True, timeout=90)
    assert first.returncode == 1, first.stdout + first.stderr
    before = {p["id"]: p for p in _status(par_repo, wid)["phases"]}
    assert (before["p1"]["status"], before["p2"]["status"]) == ("succeeded", "failed")
    log = par_repo / ".launcher" / "workflows" / wid / "p1" / "log.md"
    written = log.stat().st_mtime_ns

    fixed.write_text("")
    hold.write_text("")
    retry = subprocess.Popen([sys.executable, "-m", "launcher", "workflow", "resume", wid, "--retry-failed", "--quiet"],
                             cwd=par_repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            during = {p["id"]: p for p in _status(par_repo, wid)["phases"]}
            if during["p2"]["status"] == "running":
                break
            time.sleep(0.2)
        assert during["p2"]["status"] == "running", during
        assert during["p1"]["status"] == "succeeded", during["p1"]  # not re-run: not `running`
    finally:
        hold.unlink()
        _, err = retry.communicate(timeout=90)
    assert retry.returncode == 0, err

    after = _status(par_repo, wid)
    phases = {p["id"]: p for p in after["phases"]}
    assert after["status"] == "ready" and phases["p2"]["status"] == "succeeded", after
    assert phases["p1"] == before["p1"]  # its record as it was: same times, tasks, artifacts
    assert log.stat().st_mtime_ns == written  # its artifacts were not written again
    assert git(par_repo, "show", "main:two.txt") == "two\n" and git(par_repo, "show", "main:one.txt") == "one\n"
