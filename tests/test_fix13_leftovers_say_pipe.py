"""What a command says while an app call runs (`say`: the demos' lines, the mutation judge's)
never holds up its event loop when nobody reads its output.

`launcher demo --workflow | sleep 1000`: the pipe fills, and a blocking `print` on the event
loop froze everything (phases, agents' watchdogs) until the reader read. The lines now go
through the same writer thread as a run's progress lines (ui/line_out.py): the work goes on to
its end, and the lines are all there once the reader reads."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from launcher.cli.say_out import said_to

BOUND_S = 150  # the demo takes ~30 s on a loaded machine


def _full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is already full: the next write to it blocks until it is read."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    for chunk in (4096, 1):
        try:
            while True:
                os.write(write_end, b"x" * chunk)
        except BlockingIOError:
            pass
    os.set_blocking(write_end, True)
    return read_end, write_end


def _drain(fd: int, into: bytearray) -> threading.Thread:
    def read() -> None:
        while chunk := os.read(fd, 65536):
            into.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


def _workflow_status(where: Path) -> str | None:
    for db in where.glob("*/.launcher/launcher.db"):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                row = conn.execute("SELECT status FROM workflows").fetchone()
        except sqlite3.Error:
            return None
        return str(row[0]) if row else None
    return None


def test_the_workflow_demo_runs_to_its_end_while_its_output_is_not_read(tmp_path: Path) -> None:
    read_end, write_end = _full_pipe()
    where = tmp_path / "sample"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    demo = subprocess.Popen([sys.executable, "-m", "launcher", "demo", "--workflow", "--where", str(where)],
                            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=write_end,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    os.close(write_end)
    out = bytearray()
    try:
        deadline = time.monotonic() + BOUND_S
        while _workflow_status(where) != "completed" and time.monotonic() < deadline and demo.poll() is None:
            time.sleep(0.5)
        status = _workflow_status(where)
        assert status == "completed", f"the workflow is {status} after {BOUND_S} s of unread output"
    finally:
        reader = _drain(read_end, out)  # the reader reads at last
        try:
            code = demo.wait(timeout=60)
        finally:
            if demo.poll() is None:
                os.killpg(demo.pid, 9)
                demo.wait()
        reader.join(timeout=10)
        os.close(read_end)
    assert code == 0
    text = out.decode(errors="replace")
    assert "workflow wf_" in text and "-> workflow completed" in text, text[-2000:]


def test_a_say_into_a_full_pipe_returns_at_once_and_its_lines_come_out_in_order(tmp_path: Path) -> None:
    read_end, write_end = _full_pipe()
    stream = os.fdopen(write_end, "w", encoding="utf-8")
    out = bytearray()
    try:
        with said_to(stream) as say:
            began = time.monotonic()
            for n in range(100):
                say(f"line {n}")
            assert time.monotonic() - began < 1.0  # queued, not written by the caller
            reader = _drain(read_end, out)
        stream.close()
        reader.join(timeout=10)
    finally:
        os.close(read_end)
    lines = out.decode().lstrip("x").splitlines()
    assert lines == [f"line {n}" for n in range(100)]
