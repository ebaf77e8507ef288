"""One SQLite connection per process in WAL mode; each write is its own short transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from launcher.errors import EnvironmentProblem

BUSY_TIMEOUT_S = 30


def unusable(path: Path, exc: BaseException) -> EnvironmentProblem:
    """The error for a database file SQLite cannot use: damaged, not a database, a directory,
    unreadable, or held locked by another process. Nothing is deleted: the user moves it aside."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in reason:
        return EnvironmentProblem(
            f"the journal is locked by another process (waited {BUSY_TIMEOUT_S}s): {reason}", where=str(path),
            fix="wait for the other launcher command to finish, then run this again", error_key="journal_busy",
        )
    return EnvironmentProblem(
        f"the journal cannot be used: {reason}", where=str(path), error_key="journal_unusable",
        fix=f"move it aside (mv {path} {path}.damaged, and its -wal and -shm files if any) and run "
            "again: a new journal is started. Nothing was deleted; the moved file keeps the old runs' "
            "records, and their worktrees and branches stay where they are",
    )


class _Connection(sqlite3.Connection):
    """A connection whose statements fail with `unusable` when the file itself is the problem.
    An IntegrityError or ProgrammingError is the launcher's own and stays what it is."""

    store_path: Path = Path()

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
            raise
        except sqlite3.DatabaseError as exc:
            raise unusable(self.store_path, exc) from exc

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:
        try:
            return super().executescript(sql_script)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
            raise
        except sqlite3.DatabaseError as exc:
            raise unusable(self.store_path, exc) from exc


class SqliteStore:
    """The journal and the mutant store share one database file (`.launcher/launcher.db`):
    WAL lets readers (`launcher status`) run beside the one writer; `BEGIN IMMEDIATE` takes the
    write lock up front, so a busy database waits (timeout) instead of failing mid-transaction."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
                                 factory=_Connection)  # fmt: skip
        except (OSError, sqlite3.DatabaseError) as exc:
            raise unusable(path, exc) from exc
        assert isinstance(db, _Connection)
        db.store_path = path
        self._db: sqlite3.Connection = db
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(schema)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def read_only_rows(path: Path, sql: str, parameters: Any = ()) -> list[Any] | None:
    """The rows of one query on another process's database, opened read-only (nothing created
    or migrated there); None when it is missing or SQLite cannot read it."""
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        return db.execute(sql, parameters).fetchall()
    except sqlite3.Error:
        return None
    finally:
        db.close()
