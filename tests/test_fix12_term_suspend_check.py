"""A short command (a check, a git command) that finished while the launcher was suspended
(Ctrl-Z, a laptop asleep) is judged by its exit status, never reported as timed out because the
clock had passed its deadline by the time the launcher ran again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGSTOP/SIGCONT of a real launcher process")

# A launcher-side process: `process.run` of a command whose limit is 1.5 s; the command itself
# takes 0.3 s. The test stops this process (SIGSTOP, what Ctrl-Z amounts to) for longer than
# the limit while the command runs.
_RUNNER = textwrap.dedent("""
    import json, sys
    import anyio
    from launcher import process

    async def main():
        done = await process.run(["sh", "-c", 'touch "$0" && sleep 0.3 && echo check ok', sys.argv[1]],
                                 timeout=1.5)
        print(json.dumps({"rc": done.returncode, "timed_out": done.timed_out, "out": done.out}))

    anyio.run(main)
""")


def _wait_for(path: Path, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_a_command_that_ended_during_a_suspension_is_judged_by_its_exit(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    runner = subprocess.Popen([sys.executable, "-c", _RUNNER, str(marker)], stdout=subprocess.PIPE, text=True)
    try:
        _wait_for(marker)
        os.kill(runner.pid, signal.SIGSTOP)
        time.sleep(2.5)  # the command ends (0.3 s) and its 1.5 s limit passes while the launcher is stopped
        os.kill(runner.pid, signal.SIGCONT)
        out, _ = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            os.kill(runner.pid, signal.SIGCONT)
            runner.kill()
            runner.wait()
    assert runner.returncode == 0
    result = json.loads(out)
    assert result == {"rc": 0, "timed_out": False, "out": "check ok\n"}


def test_a_command_still_running_at_its_deadline_is_timed_out(tmp_path: Path) -> None:
    import anyio

    from launcher import process

    async def main() -> process.Completed:
        return await process.run(["sleep", "5"], timeout=0.5)

    started = time.monotonic()
    done = anyio.run(main)
    assert done.timed_out and not done.ok
    assert time.monotonic() - started < 4
