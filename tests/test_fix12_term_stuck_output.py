"""Progress output whose reader does not read (`launcher run plan.toml | less` not scrolled, a log
shipper under back-pressure, Ctrl-S) never holds up the run: its agents start and work, the
inactivity timeout is not fooled, and SIGTERM (or Ctrl-C) stops the run at once, its agents with
it. Lines the reader is too slow for are dropped and counted; the rest, and the final summary,
are written whole once it reads again."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import full_pipe

from launcher.ui.line_out import LineWriter
from tests.helpers import git, launcher_cli

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="a one-page pipe (F_SETPIPE_SZ)")

_AGENT = """
import json, os, pathlib, sys, time
marks = pathlib.Path(os.environ["MARKS"])
(marks / "started").write_text(str(os.getpid()))
for i in range(int(os.environ.get("STEPS", "16"))):   # steady work, a file change every 0.25 s, no output
    pathlib.Path("work.txt").write_text(f"step {i}\\n")
    time.sleep(0.25)
json.dump({"contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
           "summary": "edited", "files_changed": ["work.txt"], "tests_added": [], "decisions": [],
           "blockers": [], "llm_observations": "o"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
(marks / "done").touch()
"""


def _plan(repo: Path, marks: Path, steps: int) -> None:
    (repo / "agent.py").write_text(_AGENT)
    (repo / "plan.toml").write_text(
        "[run]\ninactivity_timeout_s = 2\n"
        '[agents.bot]\nadapter = "command"\ncommand = ["python3", "agent.py"]\n'
        f'set_env = {{MARKS = "{marks}", STEPS = "{steps}"}}\n'
        '[[task]]\nid = "slow"\nagent = "bot"\nprompt = "s"\n'
    )
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")



def _start(repo: Path, stdout: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.Popen([sys.executable, "-m", "launcher", "run", "plan.toml"], cwd=repo, env=env,
                            stdout=stdout, stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_for(path: Path, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.exists()


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_an_agent_works_and_lands_while_stdout_s_reader_reads_nothing(repo: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    _plan(repo, marks, steps=16)  # 4 s of silent work; 2 s without a change would be a stall
    r, w = full_pipe()
    launcher = _start(repo, w)
    os.close(w)
    try:
        worked = _wait_for(marks / "done", 60)  # nobody reads stdout meanwhile
        reader = threading.Thread(target=lambda: out.append(_read_all(r)))
        out: list[bytes] = []
        reader.start()
        rc = launcher.wait(120)
        reader.join(30)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
        os.close(r)
    assert worked, "the agent did not get to work while stdout's reader read nothing"
    assert rc == 0
    text = out[0].decode()
    assert " slow merged landed on main" in text  # the progress lines, written once it read again
    assert "stalled" not in text
    status = json.loads(launcher_cli(repo, "status", "--json").stdout)
    assert [t["state"] for t in status["tasks"]] == ["merged"]


def test_sigterm_stops_the_run_and_its_agents_while_stdout_s_reader_reads_nothing(
        repo: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    _plan(repo, marks, steps=240)  # a 60 s round
    r, w = full_pipe()
    launcher = _start(repo, w)
    os.close(w)
    agent_alive, started, agent = True, False, None
    try:
        started = _wait_for(marks / "started", 60)
        agent = int((marks / "started").read_text()) if started else None
        launcher.send_signal(signal.SIGTERM)  # a CI job cancelled; still nobody reads stdout
        try:
            rc: int | None = launcher.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        if agent is not None:
            time.sleep(0.5)
            agent_alive = Path(f"/proc/{agent}").exists() and Path(f"/proc/{agent}/stat").read_text().split()[2] != "Z"
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
        if started and agent is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(agent), signal.SIGKILL)
        os.close(r)
    assert started, "the agent did not start while stdout's reader read nothing"
    assert rc == 130, "SIGTERM did not stop the launcher while its stdout was stuck"
    assert not agent_alive, "the agent was left running"


def test_lines_a_slow_reader_has_no_room_for_are_dropped_counted_and_said(tmp_path: Path) -> None:
    r, w = full_pipe()
    stream = open(w, "w", closefd=False)  # noqa: SIM115 - the writer writes to its descriptor
    writer = LineWriter(stream, w, capacity=3)
    started = time.monotonic()
    for i in range(10):
        writer.write_line(f"line {i}")
    assert time.monotonic() - started < 1  # queued, never waited for
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(_read_all(r)))
    reader.start()
    writer.close()  # writes out what is queued
    stream.close()
    os.close(w)
    reader.join(10)
    os.close(r)
    lines = out[0].lstrip(b".").decode().splitlines()
    shown = [line for line in lines if line.startswith("line ")]
    # the writer may have taken line 0 before the others came: 3 or 4 lines shown, the rest counted
    assert shown == [f"line {i}" for i in range(len(shown))] and len(shown) in (3, 4)
    assert writer.dropped_total == 10 - len(shown)
    assert lines[-1].startswith(f"launcher: {writer.dropped_total} progress line(s) not shown")
