"""The reaper finds its candidates in the kernel's list of our children (a handful of entries)
rather than in every process's stat; an orphan re-parented to us is on that list."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from helpers import ORPHAN_MAKER, linux_children_listed

from launcher.engine import reaper

pytestmark = linux_children_listed()


def test_a_direct_child_is_listed() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in (reaper._children() or [])
    finally:
        child.kill()
        child.wait()


def test_an_orphan_re_parented_to_the_subreaper_is_found_and_reaped() -> None:
    if not reaper.become_subreaper():
        pytest.skip("no child subreaper here")
    marker = f"LAUNCHER_RUN_ID=reaper-test-{os.getpid()}"
    env = {**os.environ, "LAUNCHER_RUN_ID": marker.split("=", 1)[1], "LAUNCHER_TASK_ID": "t1"}
    made = subprocess.run([sys.executable, "-c", ORPHAN_MAKER], env=env, capture_output=True, text=True,
                          check=True)
    orphan = int(made.stdout.split()[0])
    try:
        deadline = time.monotonic() + 5
        while orphan not in (reaper._children() or []) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert orphan in (reaper._children() or [])  # re-parented to us, listed as our child
        assert reaper.reap_escaped(env["LAUNCHER_RUN_ID"], "t1") == [orphan]
        assert not os.path.exists(f"/proc/{orphan}")  # killed and reaped, no zombie left
    finally:
        try:
            os.kill(orphan, 9)
            os.waitpid(orphan, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
