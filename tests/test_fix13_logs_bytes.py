"""`launcher logs` to a pipe or a file passes the agent log's exact bytes; on a terminal a
character the agent wrote in two pieces is shown whole.

`logs -f` decoded each read on its own (`errors="replace"`): a UTF-8 character split between two
reads became two U+FFFD, in a file and on a terminal; plain `logs > f` turned a byte that is no
UTF-8 into U+FFFD. The README promises the exact bytes to a pipe or a file."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import launcher_cli, start_launcher

# The agent writes "café" as `caf\303` and then `\251`, each only once the test saw what came
# before arrive at `logs -f`'s output (so the two halves are two reads), then a byte that is no UTF-8.
AGENT = r"""
echo start
while [ ! -e "$1/half" ]; do sleep 0.05; done
printf 'caf\303'
while [ ! -e "$1/rest" ]; do sleep 0.05; done
printf '\251 done\nbad \377 byte\n'
echo hi > b.txt
"""


@pytest.fixture
def running(repo: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A run whose one task's agent writes AGENT's log: (run id, its agent.log)."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "agents": {"bot": {"adapter": "command", "command": ["sh", "-c", AGENT, "agent", str(tmp_path)]}},
        "task": [{"id": "t", "agent": "bot", "prompt": "p"}]}))
    run = start_launcher(repo, "run", str(plan), "--no-merge", "--quiet")
    try:
        runs = repo / ".launcher" / "runs"
        deadline = time.monotonic() + 90
        while not (runs.is_dir() and any((d / "t").is_dir() for d in runs.iterdir())):
            assert time.monotonic() < deadline and run.poll() is None, "the run did not start its task"
            time.sleep(0.1)
        run_id = next(d.name for d in runs.iterdir() if (d / "t").is_dir())
        yield run_id, runs / run_id / "t" / "agent.log"
        run.wait(timeout=90)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


def _drive(tmp_path: Path, seen: Callable[[], bytes]) -> None:
    """Lets the agent write each half once the one before is seen in `logs -f`'s output."""
    for shown, marker in ((b"start", "half"), (b"caf", "rest")):
        deadline = time.monotonic() + 60
        while shown not in seen():
            assert time.monotonic() < deadline, f"logs -f never showed {shown!r}: {seen()!r}"
            time.sleep(0.05)
        time.sleep(0.4)  # a poll of `logs -f` (0.3 s) passes with only this much in the log
        (tmp_path / marker).touch()


def test_logs_follow_into_a_file_is_the_logs_exact_bytes(
    repo: Path, tmp_path: Path, running: tuple[str, Path]
) -> None:
    run_id, log = running
    out = tmp_path / "follow.out"
    with out.open("wb") as sink:
        follow = subprocess.Popen([sys.executable, "-m", "launcher", "logs", run_id, "t", "-f"], cwd=repo,
                                  stdout=sink, stderr=subprocess.PIPE)
        try:
            _drive(tmp_path, out.read_bytes)
            assert follow.wait(timeout=90) == 0, follow.stderr.read() if follow.stderr else ""
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()

    assert out.read_bytes().startswith(log.read_bytes())  # its checks' lines may follow
    assert "café done".encode() in out.read_bytes() and b"bad \377 byte\n" in out.read_bytes()


def test_plain_logs_into_a_file_is_the_logs_exact_bytes(
    repo: Path, tmp_path: Path, running: tuple[str, Path]
) -> None:
    run_id, log = running
    (tmp_path / "half").touch()
    (tmp_path / "rest").touch()
    deadline = time.monotonic() + 60
    while not log.is_file() or b"byte" not in log.read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.1)

    done = subprocess.run([sys.executable, "-m", "launcher", "logs", run_id, "t"], cwd=repo,
                          capture_output=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout == log.read_bytes()
    assert b"bad \377 byte\n" in done.stdout


def test_logs_follow_on_a_terminal_shows_a_split_character_whole(
    repo: Path, tmp_path: Path, running: tuple[str, Path]
) -> None:
    run_id, _ = running
    master, slave = pty.openpty()
    shown = bytearray()

    def seen() -> bytes:
        while select.select([master], [], [], 0)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal's other end closed
                break
            if not data:
                break
            shown.extend(data)
        return bytes(shown)

    follow = subprocess.Popen([sys.executable, "-m", "launcher", "logs", run_id, "t", "-f"], cwd=repo,
                              stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.DEVNULL,
                              env={**os.environ, "TERM": "dumb"})
    os.close(slave)
    try:
        _drive(tmp_path, seen)
        deadline = time.monotonic() + 90
        while follow.poll() is None:
            seen()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        text = seen().decode("utf-8", "replace")
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
        os.close(master)

    assert "café done" in text, text
    assert "\ufffd\ufffd" not in text.replace("bad \ufffd byte", "")
    assert "bad \ufffd byte" in text  # a byte that is no UTF-8 still shows as one U+FFFD there


def test_logs_of_a_run_without_a_log_yet_still_says_so(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "t", "script": [{"write": "b.txt", "content": "b\n"}]}]}))
    run_id = json.loads(launcher_cli(repo, "run", str(plan), "--no-merge", "--json").stdout)["run_id"]
    log = repo / ".launcher" / "runs" / run_id / "t" / "agent.log"
    log.unlink(missing_ok=True)

    done = launcher_cli(repo, "logs", run_id, "t")

    assert done.returncode == 1 and "no log yet at" in done.stderr, done.stderr
