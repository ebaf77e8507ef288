"""One `mutation judge` per sweep at a time, and nothing left running by a killed one (DESIGN
14): a judge command SIGKILLed while its judge CLI works leaves that CLI re-parented to init;
the next judge of the sweep, or `launcher clean --all`, kills it first. A second judge of the
same sweep while one runs is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from helpers import ADULT_PROJECT, swept_in

# Writes its pid, then hangs while `hang` exists (a slow paid judge), else answers.
SLOW_JUDGE = """\
import json, os, pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
while pathlib.Path(sys.argv[2]).exists():
    time.sleep(0.1)
packet = json.load(open(os.environ["LAUNCHER_PACKET"]))
print(json.dumps({"contract_version": "1", "verdicts": [{"id": s["id"], "classification": "genuine",
      "confidence": 0.9, "justification": "j"} for s in packet["survivors"]]}))
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from swept_in(tmp_path_factory, "judge-lock", ADULT_PROJECT)


def _configure(root: Path, tmp_path: Path, hang: str) -> None:
    command = [sys.executable, str(root / "judge.py"), str(tmp_path / "judge.pid"), str(tmp_path / hang)]
    (root / "launcher.toml").write_text(f'[agents.j]\nadapter = "command"\ncommand = {json.dumps(command)}\n')
    git(root, "add", "launcher.toml", "judge.py")
    git(root, "commit", "-qm", "the judge")


@pytest.fixture
def proj(swept: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    subprocess.run(["cp", "-a", str(swept), str(root)], check=True)
    (root / "judge.py").write_text(SLOW_JUDGE)
    _configure(root, tmp_path, "hang")
    return root


_JUDGE = [sys.executable, "-m", "launcher", "mutation", "judge", "--agent", "j", "--confirm-judge"]


def _start_judge(proj: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(_JUDGE, cwd=proj, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _judge_pid(tmp_path: Path) -> int:
    deadline = time.monotonic() + 60
    while not (tmp_path / "judge.pid").exists() or not (tmp_path / "judge.pid").read_text():
        assert time.monotonic() < deadline, "the judge never started"
        time.sleep(0.05)
    return int((tmp_path / "judge.pid").read_text())


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _orphan_of_a_killed_judge(proj: Path, tmp_path: Path) -> int:
    (tmp_path / "hang").touch()
    command = _start_judge(proj)
    orphan = _judge_pid(tmp_path)
    os.kill(command.pid, signal.SIGKILL)  # the command alone, as the OOM killer does
    command.communicate()
    time.sleep(0.3)
    assert _alive(orphan)  # left running, re-parented
    (tmp_path / "judge.pid").unlink()
    return orphan


def test_the_next_judge_of_the_sweep_kills_what_a_killed_one_left(proj: Path, tmp_path: Path) -> None:
    orphan = _orphan_of_a_killed_judge(proj, tmp_path)
    try:
        _configure(proj, tmp_path, "no-hang")  # the new judge answers; the orphan still hangs
        again = subprocess.run(_JUDGE, cwd=proj, text=True, capture_output=True, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "killed 1 process(es) a killed `mutation judge`" in again.stdout + again.stderr
        assert not _alive(orphan)
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_clean_all_kills_what_a_killed_judge_left(proj: Path, tmp_path: Path) -> None:
    orphan = _orphan_of_a_killed_judge(proj, tmp_path)
    try:
        cleaned = subprocess.run([sys.executable, "-m", "launcher", "clean", "--all"], cwd=proj, text=True,
                                 capture_output=True, timeout=120)
        assert cleaned.returncode == 0, cleaned.stderr
        assert "process(es) of a killed judge" in cleaned.stdout
        assert not _alive(orphan)
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_a_second_judge_of_the_same_sweep_is_refused_while_one_runs(proj: Path, tmp_path: Path) -> None:
    (tmp_path / "hang").touch()
    first = _start_judge(proj)
    try:
        judge_pid = _judge_pid(tmp_path)
        second = subprocess.run(_JUDGE, cwd=proj, text=True, capture_output=True, timeout=120)
        assert second.returncode == 2, second.stdout + second.stderr
        assert "another `launcher mutation judge` is judging" in second.stderr
        assert _alive(judge_pid)  # the refused one killed nothing
    finally:
        (tmp_path / "hang").unlink()
    _out, err = first.communicate(timeout=120)
    assert first.returncode == 0, (_out, err)


def _judge_checkouts(proj: Path) -> list[str]:
    listed = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=proj, text=True, capture_output=True)
    return [line for line in listed.stdout.splitlines() if line.startswith("worktree ") and "/judge/" in line]


def test_clean_all_force_removes_the_checkout_a_killed_judge_left_and_counts_it(proj: Path, tmp_path: Path) -> None:
    orphan = _orphan_of_a_killed_judge(proj, tmp_path)
    try:
        assert _judge_checkouts(proj)  # the judge's read-only checkout of the sweep's base
        cleaned = subprocess.run([sys.executable, "-m", "launcher", "clean", "--all", "--force"], cwd=proj,
                                 text=True, capture_output=True, timeout=120)
        assert cleaned.returncode == 0, cleaned.stderr
        assert "the checkout of a killed judge of" in cleaned.stdout
        assert "cleaned: 1 item(s)" in cleaned.stdout  # the checkout; the killed process is said, not counted
        assert _judge_checkouts(proj) == []
        assert list((tmp_path / "cache" / "launcher" / "worktrees").iterdir()) == []  # the repository's, gone
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_clean_all_leaves_the_checkout_of_a_judge_that_is_running(proj: Path, tmp_path: Path) -> None:
    (tmp_path / "hang").touch()
    judge = _start_judge(proj)
    try:
        _judge_pid(tmp_path)
        cleaned = subprocess.run([sys.executable, "-m", "launcher", "clean", "--all"], cwd=proj, text=True,
                                 capture_output=True, timeout=120)
        assert cleaned.returncode == 0, cleaned.stderr
        assert "a judge of" in cleaned.stdout and "is running" in cleaned.stdout
        assert _judge_checkouts(proj)
    finally:
        (tmp_path / "hang").unlink()
    _out, err = judge.communicate(timeout=120)
    assert judge.returncode == 0, err
    assert _judge_checkouts(proj) == []
