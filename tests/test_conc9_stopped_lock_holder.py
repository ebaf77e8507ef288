"""A launcher suspended with Ctrl-Z while it holds the repository's lock: another launcher that
needs the lock says, after a few seconds, which process holds it, that it is stopped, and how to
continue it (README: a suspended launcher's claim names `fg` / `kill -CONT PID`); it keeps waiting
and goes on once the holder lets go."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HOLD = """
import sys, time, anyio
from pathlib import Path
from launcher.git.repo import GitRepo

async def main() -> None:
    repo = await GitRepo.discover(Path.cwd())
    async with repo.lock.hold():
        Path(sys.argv[1]).touch()
        time.sleep(2)  # the lock's holder at work (a landing updating the work tree, say)

anyio.run(main)
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _read_until(stream_path: Path, proc: subprocess.Popen[str], needle: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        text = stream_path.read_text()
        if needle in text:
            return text
        time.sleep(0.1)
    return stream_path.read_text()


def test_a_launcher_waiting_for_the_lock_of_a_stopped_one_names_it_and_how_to_continue_it(
    repo: Path, tmp_path: Path
) -> None:
    held = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(held)], cwd=repo, env=_env())
    try:
        deadline = time.monotonic() + 30
        while not held.exists() and holder.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert held.exists(), "the holder never took the lock"
        os.kill(holder.pid, signal.SIGSTOP)  # Ctrl-Z in its terminal

        err_path = tmp_path / "warm.err"
        with err_path.open("w") as err:
            warm = subprocess.Popen(
                [sys.executable, "-m", "launcher", "pool", "warm", "1"],
                cwd=repo,
                env=_env(),
                stdout=subprocess.DEVNULL,
                stderr=err,
                text=True,
            )
        said = _read_until(err_path, warm, "kill -CONT", timeout=20)
        assert warm.poll() is None, f"the waiting launcher gave up: {said}"  # it keeps waiting
        assert f"held by pid {holder.pid}" in said, said
        assert "stopped" in said and "`fg`" in said and f"`kill -CONT {holder.pid}`" in said, said
        assert "launcher.lock" in said, said

        os.kill(holder.pid, signal.SIGCONT)  # following the advice
        assert holder.wait(timeout=30) == 0
        assert warm.wait(timeout=120) == 0, err_path.read_text()
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()
            holder.wait()
