"""Opening the journal again in a process never drops the locks its other connections hold.

POSIX locks belong to the process: closing any descriptor of the database file releases every
lock SQLite holds on it through other descriptors. A journal open that opened and closed the file
(to set its permissions) let another process write while this one was mid-transaction, and the
journal was corrupted ("file is not a database") during a run's landing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from launcher.store.journal import Journal

# Leaving WAL mode needs every other connection gone (no shared lock on the database file): the
# same test the last connection to close makes before it checkpoints and deletes the WAL.
OTHER_PROCESS = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
try:
    print("journal mode:", db.execute("PRAGMA journal_mode=DELETE").fetchone()[0])
except sqlite3.OperationalError as exc:
    print("refused:", exc)
"""


def test_a_second_journal_open_keeps_the_first_connection_s_locks(tmp_path: Path) -> None:
    path = tmp_path / ".launcher" / "launcher.db"
    first = Journal(path)
    with first._tx():
        pass  # a write: the connection is in WAL mode and holds its shared lock on the file
    Journal(path)  # this process opens the journal again (another thread, another object)
    other = subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(path)], capture_output=True, text=True,
                           timeout=60)
    assert "journal mode: delete" not in other.stdout, "another process found no other connection"
    assert "journal mode: wal" in other.stdout or "refused" in other.stdout, other.stdout + other.stderr
    with first._tx():
        pass
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
