"""A stopped command never stays alive for its last line: `launcher run --json` whose stderr's
reader reads nothing (`launcher run --json plan 2>&1 >report.json | log-shipper` under
back-pressure) is stopped by SIGTERM at once: exit 130, the report (status `interrupted`) on
stdout, the run journaled interrupted, its agent killed. The "interrupted: state saved" line is
given a bounded wait for the reader, then dropped."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from launcher.bounded_write import write_bounded
from launcher.ui.line_out import write_text_bounded
from tests.helpers import full_pipe, git, launcher_cli, sigterm_once_agent_runs

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="a one-page pipe (F_SETPIPE_SZ)")




def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_sigterm_ends_a_json_run_whose_stderr_reader_reads_nothing(repo: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    (repo / "plan.toml").write_text(
        '[agents.bot]\nadapter = "command"\n'
        f'command = ["sh", "-c", "echo $$ > {marks}/agent.pid; sleep 300"]\n'
        '[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\n')
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")
    r, w = full_pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    with (tmp_path / "report.json").open("wb") as out:
        rc = sigterm_once_agent_runs(repo, env, marks / "agent.pid", stdout=out, stderr=w, read_end=r, wait_s=20)
    assert rc == 130, "the launcher stayed alive after SIGTERM, blocked on its last line to stderr"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "interrupted"
    status = json.loads(launcher_cli(repo, "status", "--json").stdout)
    assert status["status"] == "interrupted"  # the journal says it, whatever the line's fate


def test_a_last_line_waits_for_a_slow_reader_and_is_dropped_for_one_that_reads_nothing() -> None:
    r, w = full_pipe()
    try:
        started = time.monotonic()
        assert write_bounded(w, b"stopped\n", grace_s=0.3) is False  # nothing taken: dropped
        assert time.monotonic() - started < 2
    finally:
        os.close(r)  # the abandoned write ends (EPIPE) with its reader
        os.close(w)
    r, w = full_pipe()
    try:
        # A reader that reads, however slowly, gets all of it: the wait is for no progress only.
        got: list[bytes] = []

        def slow_reader() -> None:
            time.sleep(0.2)
            got.append(os.read(r, 4096 * 2))  # the filler, then
            while True:
                chunk = os.read(r, 4096)
                got.append(chunk)
                if not chunk or b"end\n" in b"".join(got):
                    return
                time.sleep(0.05)

        reader = threading.Thread(target=slow_reader)
        reader.start()
        assert write_bounded(w, b"y" * 20000 + b"end\n", grace_s=1.0) is True
        reader.join(10)
        assert b"".join(got).endswith(b"y" * 20000 + b"end\n")
    finally:
        os.close(w)
        os.close(r)


def test_a_stream_without_a_descriptor_is_written_directly() -> None:
    import io

    stream = io.StringIO()
    assert write_text_bounded(stream, "interrupted: state saved\n") is True
    assert stream.getvalue() == "interrupted: state saved\n"
