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

import anyio
import pytest
import typer
from helpers import git, launcher_cli

from launcher.cli.calls import call
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
def test_a_disk_that_fills_while_a_tasks_artifacts_are_written_is_said_and_resumable(small_fs: Path) -> None:
    repo = _repo_in(small_fs)
    _with_agent(repo)
    stopped = launcher_cli(repo, *_task("head -c 12000000 /dev/urandom > fill.bin"))
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert "no space left on device" in stopped.stderr and "diff.patch" in stopped.stderr
    assert "free space" in stopped.stderr and "launcher resume" in stopped.stderr
    assert "launcher bug" not in stopped.stderr and not (repo / ".launcher" / "internal-errors").exists()
    subprocess.run(["mount", "-o", "remount,size=200m", str(small_fs)], check=True)
    resumed = launcher_cli(repo, "resume", "--quiet")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (repo / "fill.bin").stat().st_size == 12000000


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


def test_no_space_left_anywhere_in_a_command_is_an_environment_error(capsys: pytest.CaptureFixture[str]) -> None:
    async def writes_to_a_full_device() -> None:
        async def one_task() -> None:
            with open("/dev/full", "wb", buffering=0) as full:  # every write: ENOSPC
                full.write(b"x")

        async with anyio.create_task_group() as group:  # the error arrives in an ExceptionGroup
            group.start_soon(one_task)

    with pytest.raises(typer.Exit) as stopped:
        call(writes_to_a_full_device)
    assert stopped.value.exit_code == 3
    said = capsys.readouterr().err
    assert "no space left on device" in said and "free space" in said and "launcher bug" not in said
