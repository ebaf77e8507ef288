"""A full disk is the machine, not the launcher: every command says the disk is full, where, and
to free space (exit 3), never "internal error" (exit 70) nor "the journal cannot be used, move it
aside" (which would lose the runs' state). A run it stopped continues with `launcher resume`."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import git, launcher_cli

from launcher.store.sqlite import unusable

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("mount"), reason="mounts a small tmpfs: needs root"
)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """An empty directory on a file system of its own, 20 MiB (grown with `remount`)."""
    where = tmp_path / "fs"
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(where)]).returncode:
        pytest.skip("mount refused")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)])


def _repo_in(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("base\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return repo


def _fill(repo: Path) -> None:
    with open(repo / ".git" / "filler", "wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def _task(text: str) -> list[str]:
    return ["run", "--agent", "sh", "--task", text, "--quiet"]


SH_AGENT = '[agents.sh]\nadapter = "command"\ncommand = ["sh", "-c", "{prompt}"]\n'


def _with_agent(repo: Path) -> None:
    (repo / "launcher.toml").write_text(SH_AGENT)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "agent")


@needs_root
def test_a_full_disk_under_the_journal_is_not_called_a_damaged_journal(small_fs: Path) -> None:
    repo = _repo_in(small_fs)
    _with_agent(repo)
    first = launcher_cli(repo, *_task("echo one > one.txt"))
    assert first.returncode == 0, first.stdout + first.stderr
    _fill(repo)
    full = launcher_cli(repo, *_task("echo two > two.txt"))
    assert full.returncode == 3, full.stdout + full.stderr
    assert "the disk is full" in full.stderr and "free space" in full.stderr
    assert "move it aside" not in full.stderr and "damaged" not in full.stderr.replace("not damaged", "")


def test_a_journal_that_cannot_grow_says_the_disk_is_full(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "launcher.db")
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute("PRAGMA max_page_count = 3")  # SQLite's own SQLITE_FULL, as on a full disk
    with pytest.raises(sqlite3.OperationalError) as raised:
        for _ in range(10):
            db.execute("INSERT INTO t VALUES (?)", (b"\0" * 4096,))
    problem = unusable(tmp_path / "launcher.db", raised.value)
    assert problem.error_key == "disk_full" and int(problem.exit_code) == 3
    assert "the disk is full" in problem.message and "free space" in problem.message
    assert "move it aside" not in problem.message
