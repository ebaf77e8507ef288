"""What the launcher records of a run is private to the user, whatever the umask.

An agent that prints a secret it can read (the 0600 `.env` copied into its worktree) and fails
left that output in `agent.log` and in the journal `launcher.db` (its failure message), both
created 0644 under the usual umask 022, while `contract.json` or `facts.json` were 0600. Now
every file holding agent output or task data is 0600 and every folder made for them 0700."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from helpers import git

from launcher.capped_log import CappedLog
from launcher.private_files import make_private_dirs
from launcher.store.sqlite import SqliteStore

SECRET = "sk-test-FAKE123-include-secret"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _failing_run(repo: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (repo / ".worktreeinclude").write_text(".env\n")
    git(repo, "add", ".worktreeinclude")
    git(repo, "commit", "-q", "-m", "include .env")
    (repo / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
    (repo / ".env").chmod(0o600)
    plan = tmp_path / "plan.toml"
    plan.write_text('[[task]]\nid = "t"\nagent = "scripted"\nprompt = "x"\n'
                    'script = [ {run = ["sh", "-c", "echo debug: $(cat .env) >&2; exit 3"]} ]\n')
    return subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--no-merge", "--quiet"],
                          cwd=repo, capture_output=True, text=True, umask=0o022, timeout=120)


def test_a_failing_agents_printed_secret_is_kept_only_in_files_private_to_the_user(
        repo: Path, tmp_path: Path) -> None:
    done = _failing_run(repo, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    state = repo / ".launcher"
    holding = [p for p in state.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    names = {p.name for p in holding}
    assert "agent.log" in names and "launcher.db" in names  # the output and the failure message
    for path in holding:
        assert _mode(path) & 0o077 == 0, f"{path} is {oct(_mode(path))}"
    for path in [state, *(p for p in state.rglob("*") if p.is_dir())]:
        assert _mode(path) == 0o700, f"{path} is {oct(_mode(path))}"
    for suffix in ("", "-wal", "-shm"):
        db = state / f"launcher.db{suffix}"
        if db.exists():
            assert _mode(db) == 0o600, f"{db} is {oct(_mode(db))}"


def test_a_journal_an_earlier_launcher_made_world_readable_is_narrowed_when_opened(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    db = folder / "launcher.db"
    SqliteStore(db, "CREATE TABLE IF NOT EXISTS t (x INTEGER);")._db.close()
    for path in (db, db.with_name("launcher.db-wal")):
        if path.exists():
            path.chmod(0o644)
    folder.chmod(0o755)
    SqliteStore(db, "CREATE TABLE IF NOT EXISTS t (x INTEGER);")._db.close()
    assert _mode(db) == 0o600
    assert _mode(folder) == 0o700


def test_logs_and_their_folders_are_created_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        log = CappedLog(tmp_path / "runs" / "r" / "t" / "agent.log")
        log.write(b"token\n")
        log.close()
        make_private_dirs(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "runs" / "r" / "t" / "agent.log") == 0o600
    for folder in ("runs", "runs/r", "runs/r/t", "a", "a/b"):
        assert _mode(tmp_path / folder) == 0o700
