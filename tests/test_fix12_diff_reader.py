"""`launcher diff RUN TASK | less`: a reader slower than git's time limit is not a git that hung.

The patch is streamed from git to the reader; git waits on the pipe while a person pages. With the
repository's time limit on that git, a pager left open past it got git killed as "timed out", a
cut patch and exit 1. Here the limit is 1 s and the reader starts reading after 3 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import anyio

from launcher.app.run.runner import RunOptions, start_run
from launcher.git import time_limit
from launcher.models.plan import validate_plan


def test_a_slow_reader_gets_the_whole_patch(repo: Path) -> None:
    plan = validate_plan({"agents": {"sh": {"adapter": "command", "command": [
        "sh", "-c", "seq 1 600000 > big.txt && echo more >> README.md"]}},
        "task": [{"id": "big", "agent": "sh", "prompt": "x"}]}, "test plan")
    report = anyio.run(start_run, repo, plan, RunOptions(merge=False), lambda _e: None)
    assert report.tasks[0].state == "approved", report.tasks[0].message
    stored = (Path(report.artifacts) / "big" / "diff.patch").read_bytes()
    assert len(stored) > 1 << 20  # far more than a pipe holds: git must wait for the reader

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["LAUNCHER_GIT_TIMEOUT"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "diff", report.run_id, "big"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(3)  # a person reading the first page
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, err.decode()
    assert out == stored


def test_a_limit_under_a_second_is_said_as_set() -> None:
    said = time_limit.stopped_words(["status"], 0.25, own_limit=False)
    assert "after 0.25 s" in said
    assert "after 0 s" not in time_limit.stopped_words(["status"], 0.0005, own_limit=False)
    assert "after 600 s" in time_limit.stopped_words(["status"], 600.4, own_limit=False)
