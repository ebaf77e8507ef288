"""The launcher suspended (Ctrl-Z, then `fg`) while an agent works: the agent runs in a session of
its own and works on meanwhile, so the time the launcher was stopped is never counted as the
agent's inactivity. Neither an agent that prints steadily nor one that only changes files is
killed as stalled when the launcher runs again."""

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

# The launcher side: `process.supervise` of an agent with a 1.5 s inactivity timeout, the agent's
# file changes counted (`FileActivity`), as `launcher run` does.
_SUPERVISOR = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import anyio
    from launcher import process
    from launcher.engine.file_activity import FileActivity

    work, agent = Path(sys.argv[1]), sys.argv[2]

    async def main():
        files = FileActivity(work, every_s=0.2)
        try:
            done = await process.supervise(
                [sys.executable, "-c", agent], cwd=work, env=dict(__import__("os").environ),
                log_path=work.parent / "agent.log", timeout_s=60, inactivity_s=1.5, grace_s=1,
                activity_probe=files.probe)
        finally:
            files.close()
        print(json.dumps({"rc": done.returncode, "stalled": done.stalled, "timed_out": done.timed_out}))

    anyio.run(main)
""")

# Works for 5 s: prints a line (or changes a file) every 0.2 s; says it started with a marker file.
_PRINTING_AGENT = textwrap.dedent("""
    import time, pathlib
    pathlib.Path("../started").touch()
    for i in range(25):
        print("working", i, flush=True)
        time.sleep(0.2)
""")
_SILENT_AGENT = textwrap.dedent("""
    import time, pathlib
    pathlib.Path("../started").touch()
    for i in range(25):
        pathlib.Path("work.txt").write_text(str(i))
        time.sleep(0.2)
""")


def _supervise_with_a_suspension(tmp_path: Path, agent: str) -> dict[str, object]:
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "started"
    launcher = subprocess.Popen([sys.executable, "-c", _SUPERVISOR, str(work), agent], stdout=subprocess.PIPE,
                                text=True)
    try:
        deadline = time.monotonic() + 20
        while not marker.exists():
            assert time.monotonic() < deadline, "the agent never started"
            time.sleep(0.01)
        time.sleep(0.3)
        os.kill(launcher.pid, signal.SIGSTOP)  # Ctrl-Z: the launcher stops, its agent works on
        time.sleep(3.0)  # twice the inactivity timeout
        os.kill(launcher.pid, signal.SIGCONT)  # fg
        out, _ = launcher.communicate(timeout=30)
    finally:
        if launcher.poll() is None:
            os.kill(launcher.pid, signal.SIGCONT)
            launcher.kill()
            launcher.wait()
    assert launcher.returncode == 0
    result: dict[str, object] = json.loads(out)
    return result


def test_an_agent_printing_steadily_is_not_stalled_by_a_suspension_of_the_launcher(tmp_path: Path) -> None:
    assert _supervise_with_a_suspension(tmp_path, _PRINTING_AGENT) == {"rc": 0, "stalled": False, "timed_out": False}


def test_an_agent_changing_files_is_not_stalled_by_a_suspension_of_the_launcher(tmp_path: Path) -> None:
    assert _supervise_with_a_suspension(tmp_path, _SILENT_AGENT) == {"rc": 0, "stalled": False, "timed_out": False}


def test_an_agent_that_does_nothing_is_still_stalled(tmp_path: Path) -> None:
    import anyio

    from launcher import process

    async def main() -> process.Supervised:
        return await process.supervise([sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path,
                                       env=dict(os.environ), log_path=tmp_path / "agent.log", timeout_s=60,
                                       inactivity_s=1.0, grace_s=1)

    started = time.monotonic()
    done = anyio.run(main)
    assert done.stalled and time.monotonic() - started < 10
