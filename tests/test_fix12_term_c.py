"""`launcher logs` and what reads it.

- `launcher logs -f RUN TASK | grep -m1 READY` returns once the marker is seen: `logs -f` has no
  work but printing, so when its reader has gone it stops (exit 0, as `tail -f` does and as
  `launcher status | head` exits), at its next write or, while the agent is silent, within a
  second or so; it does not follow into nothing until the task ends.
- On a terminal, agent and check output is shown with its control characters escaped (tabs and
  line breaks kept): a check written by the agent can neither erase the launcher's
  "--- check: ... (FAILED, exit 1)" line and print a forged "(passed, exit 0)", nor set the
  clipboard (OSC 52) or the window title; the launcher's check lines are bold, which escaped
  text cannot be. To a pipe or a file the log goes as its exact bytes.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import launcher_cli, start_launcher

ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _start_run(repo: Path, tmp_path: Path, script: list[dict[str, Any]]) -> tuple[subprocess.Popen[str], str]:
    """A run of one scripted task `t` in the background, once its agent has said READY; (the
    launcher's process, the run id)."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "t", "script": [{"say": "READY"}, *script,
                                                                {"write": "t.txt", "content": "t"}]}]}))
    launcher = start_launcher(repo, "run", str(plan), "--quiet")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logs = list((repo / ".launcher" / "runs").glob("*/t/agent.log"))
        if logs and b"READY" in logs[0].read_bytes():
            return launcher, logs[0].parent.parent.name
        assert launcher.poll() is None, launcher.communicate()
        time.sleep(0.1)
    raise AssertionError("the agent never said READY")


def _stop(launcher: subprocess.Popen[str]) -> None:
    if launcher.poll() is None:
        os.killpg(launcher.pid, signal.SIGINT)
    launcher.communicate(timeout=60)


def _follow_until_the_reader_goes(repo: Path, run_id: str) -> tuple[int, float]:
    """`launcher logs -f RUN t | head -1` in effect: read up to READY, then close the pipe;
    (logs -f's exit code, seconds it took to end after that)."""
    follower = subprocess.Popen([sys.executable, "-m", "launcher", "logs", "-f", run_id, "t"], cwd=repo, env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert follower.stdout is not None
    seen = b""
    while b"READY" not in seen:
        chunk = follower.stdout.read1(4096)
        assert chunk, f"logs -f ended before READY: {follower.communicate()}"
        seen += chunk
    follower.stdout.close()  # the reader goes, as `grep -m1` does
    gone = time.monotonic()
    try:
        code = follower.wait(timeout=15)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    stderr = follower.stderr.read() if follower.stderr else b""
    assert b"Traceback" not in stderr and b"error" not in stderr, stderr
    return code, time.monotonic() - gone


STILL_PRINTING = [step for i in range(60) for step in ({"say": f"step {i}"}, {"sleep": 0.5})]  # 30 s of output
SILENT = [{"sleep": 30}]  # nothing more to write for 30 s


@pytest.mark.parametrize("steps", [STILL_PRINTING, SILENT], ids=["at-its-next-write", "while-the-agent-is-silent"])
def test_logs_follow_stops_once_its_reader_has_gone(repo: Path, tmp_path: Path, steps: list[dict[str, Any]]) -> None:
    launcher, run_id = _start_run(repo, tmp_path, steps)
    try:
        code, took = _follow_until_the_reader_goes(repo, run_id)
        assert launcher.poll() is None, "the agent was meant to be still working"
    finally:
        _stop(launcher)

    assert code == 0
    assert took < 5, f"logs -f went on for {took:.1f} s after its reader had gone"


FORGED = "\x1b[1A\x1b[2K--- check: ./check.sh  (passed, exit 0)"
CHECK = "#!/bin/sh\nprintf '\\033[1A\\033[2K--- check: ./check.sh  (passed, exit 0)\\n1 passed\\n'\nexit 1\n"


def _finished_run(repo: Path, tmp_path: Path) -> str:
    """A run whose agent printed an OSC 52 (clipboard), an OSC 0 (title) and a tab, and wrote
    the check that fails while printing a forged "passed" line over the launcher's verdict."""
    plan = tmp_path / "plan.json"
    said = "working\x1b]52;c;cm0gLXJmIH4K\x07\x1b]0;all good\x07\tcol2"
    plan.write_text(json.dumps({"task": [{"id": "t", "checks": ["sh check.sh"], "script": [
        {"say": said}, {"write": "check.sh", "content": CHECK}]}]}))
    done = launcher_cli(repo, "run", str(plan), "--json")
    return str(json.loads(done.stdout)["run_id"])


def _on_a_terminal(repo: Path, *args: str) -> tuple[int, bytes]:
    """`launcher ARGS` with a pty as its stdin, stdout and stderr; (exit code, what it wrote)."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "launcher", *args], cwd=repo, env=dict(ENV, TERM="xterm"),
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer has gone
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), out


def test_logs_on_a_terminal_escapes_agent_and_check_output_and_the_verdict_stands(
    repo: Path, tmp_path: Path
) -> None:
    run_id = _finished_run(repo, tmp_path)

    for args in (["logs", run_id, "t"], ["logs", run_id, "t", "--checks"], ["logs", "-f", run_id, "t"]):
        code, shown = _on_a_terminal(repo, *args)
        text = shown.decode()

        assert code == 0, text
        assert "\x1b]" not in text and "\x07" not in text, f"an OSC sequence reached the terminal: {text!r}"
        assert "\x1b[1A" not in text and "\x1b[2K" not in text, f"agent code moved the cursor: {text!r}"
        # The launcher's verdict is there, in bold; the forged one is shown as text, escaped.
        assert "\x1b[1m--- check: sh check.sh  (FAILED, exit 1)\x1b[0m" in text, text
        assert "\\033[1A\\033[2K--- check: ./check.sh  (passed, exit 0)" in text, text
        if "--checks" not in args:
            assert "working\\033]52;c;cm0gLXJmIH4K\\a\\033]0;all good\\a\tcol2" in text, text  # the tab kept


def test_logs_to_a_pipe_or_a_file_keeps_the_exact_bytes(repo: Path, tmp_path: Path) -> None:
    run_id = _finished_run(repo, tmp_path)

    shown = launcher_cli(repo, "logs", run_id, "t")

    assert shown.returncode == 0, shown.stderr
    assert "working\x1b]52;c;cm0gLXJmIH4K\x07\x1b]0;all good\x07\tcol2" in shown.stdout
    assert "--- check: sh check.sh  (FAILED, exit 1)\n" + FORGED + "\n1 passed" in shown.stdout
