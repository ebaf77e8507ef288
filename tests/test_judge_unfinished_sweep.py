"""`mutation judge`, `label` (and `fix`) on a sweep that has not finished: it is said to be
unfinished, with the command that finishes it (as `mutation list` says), never said not to exist;
and with no RUN, a newer interrupted sweep is not passed over for an older finished one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from conftest import git, write_files
from helpers import ADULT_PROJECT

# Each test sleeps SLOW_TESTS seconds: a sweep slow enough to be interrupted, or a fast one.
SLOW = "import os, time\n\n\ndef pytest_runtest_call(item):\n    time.sleep(float(os.environ.get('SLOW_TESTS', '0')))\n"


def launcher(root: Path, *args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=root, text=True, capture_output=True,
                          stdin=stdin, env={**os.environ, "VIRTUAL_ENV": sys.prefix}, timeout=300)  # fmt: skip


def finished_sweep(root: Path) -> str:
    done = launcher(root, "mutation", "sweep", "--workers", "1", "--no-cache", "--json")
    assert done.returncode == 0, done.stderr
    return next(line.split()[1].rstrip(":") for line in done.stderr.splitlines() if line.startswith("sweep m-"))


def interrupted_sweep(root: Path) -> str:
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix, "SLOW_TESTS": "0.5"}
    child = subprocess.Popen([sys.executable, "-m", "launcher", "mutation", "sweep", "--workers", "1", "--no-cache"],
                             cwd=root, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stderr is not None
    seen = []
    for line in child.stderr:  # until the sweep has its id and runs mutants
        seen.append(line)
        if line.startswith("mutants:"):
            break
    child.send_signal(signal.SIGINT)
    _, rest = child.communicate(timeout=120)
    assert child.returncode == 130, "".join(seen) + rest
    return next(line.split()[1].rstrip(":") for line in seen if line.startswith("sweep m-"))


def judge(root: Path, *run: str) -> subprocess.CompletedProcess[str]:
    return launcher(root, "mutation", "judge", *run, "--agent", "scripted-judge", "--confirm-judge")


def label(root: Path, *run: str) -> subprocess.CompletedProcess[str]:
    """`mutation label` with a terminal as its stdin (it asks nothing when it has no sweep to walk)."""
    master, slave = os.openpty()
    try:
        return launcher(root, "mutation", "label", *run, stdin=slave)
    finally:
        os.close(slave)
        os.close(master)


def test_an_unfinished_sweep_is_said_to_be_unfinished_with_the_command_that_finishes_it(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write_files(root, {**ADULT_PROJECT, "tests/conftest.py": SLOW})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "weakly tested")

    first = interrupted_sweep(root)
    resume = f"launcher mutation sweep --resume {first}"
    for done in (judge(root), judge(root, first), label(root), label(root, first)):
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"sweep {first} is interrupted" in done.stderr and f"Fix: finish it with `{resume}`" in done.stderr
        assert "no mutation sweeps yet" not in done.stderr and "none yet" not in done.stderr
    assert "no sweep has finished yet" in judge(root).stderr

    finished = finished_sweep(root)  # newer than the interrupted one: "the latest" is the finished one
    assert judge(root).returncode == 0

    newer = interrupted_sweep(root)  # a newer sweep that can still finish: the older is not taken silently
    for command, done in (("judge", judge(root)), ("label", label(root))):
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"the latest sweep, {newer}, is interrupted" in done.stderr and finished in done.stderr
        assert f"finish it with `launcher mutation sweep --resume {newer}`" in done.stderr
        assert f"or name the older one: `launcher mutation {command} {finished}`" in done.stderr
    named = judge(root, finished)
    assert named.returncode == 0, named.stdout + named.stderr
    assert "judged 2 survivors" in named.stdout
