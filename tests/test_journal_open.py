"""Opening the journal: launchers started together on a repository (two runs, a run and a
`status`) each open it, and a journal an older launcher wrote gets the columns added since at
the first write, whoever writes first (a command that only reads it leaves it as it is:
tests/test_fix10_wf_journal_upgrade.py)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

OPEN = """
import sys, time
from pathlib import Path
from launcher.store.journal import Journal
go = Path(sys.argv[2])
(go.parent / f"ready-{sys.argv[3]}").touch()
while not go.exists():  # spinning, not sleeping: they all open within microseconds
    pass
Journal(Path(sys.argv[1])).end_process("no-such-run", 0)  # a write: the one that may migrate
"""


def _open_together(db: Path, tmp_path: Path, count: int = 8) -> list[subprocess.CompletedProcess[str]]:
    """`count` processes open `db` at the same moment: each is started and has imported the
    launcher before any of them opens it."""
    go = tmp_path / "go"
    go.unlink(missing_ok=True)
    for ready in tmp_path.glob("ready-*"):
        ready.unlink()
    procs = [subprocess.Popen([sys.executable, "-c", OPEN, str(db), str(go), str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in range(count)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=60), *p.communicate()) for p in procs]


def test_launchers_opening_a_new_journal_together_all_succeed(tmp_path: Path) -> None:
    # Creating the file raced: SQLite could deadlock two openers (one in WAL mode holding its
    # shared lock, one waiting to write the new file's header) until the 30 s busy timeout
    # ended one with `journal_busy`; about every other round failed before opening was serialised.
    for attempt in range(5):
        db = tmp_path / f"attempt-{attempt}" / "launcher.db"
        done = _open_together(db, tmp_path, count=6)
        assert [d.returncode for d in done] == [0] * len(done), [d.stderr[-500:] for d in done if d.returncode]


def test_an_older_journal_gets_the_new_columns_even_when_several_write_to_it_at_once(tmp_path: Path) -> None:
    db = tmp_path / "launcher.db"
    with sqlite3.connect(db) as old:  # a rounds table as launchers before verdict_sha256 wrote it
        old.execute("CREATE TABLE rounds (run_id TEXT NOT NULL, task_id TEXT NOT NULL, iteration INTEGER NOT NULL, "
                    "verdict TEXT, audit TEXT, error_key TEXT, at REAL NOT NULL, "
                    "PRIMARY KEY (run_id, task_id, iteration))")
        old.execute("INSERT INTO rounds VALUES ('r', 't', 1, 'satisfied', 'a', NULL, 0)")
    done = _open_together(db, tmp_path)
    assert [d.returncode for d in done] == [0] * len(done), [d.stderr[-500:] for d in done if d.returncode]
    with sqlite3.connect(db) as now:
        columns = [row[1] for row in now.execute("PRAGMA table_info(rounds)")]
        assert "verdict_sha256" in columns
        assert now.execute("SELECT verdict, verdict_sha256 FROM rounds").fetchall() == [("satisfied", None)]
