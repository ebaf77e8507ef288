"""One SQLite connection per process in WAL mode; each write is its own short transaction."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from launcher.errors import EnvironmentProblem, disk_problem
from launcher.private_files import make_private_dirs, narrow, open_private

BUSY_TIMEOUT_S = 30
_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+) \(")


NEARLY_FULL_BYTES = 1 << 20  # less free space than this, an I/O error while writing is the disk being full


def _free_bytes(path: Path) -> int | None:
    for folder in (path.parent, *path.parent.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return None


def _disk_problem(path: Path, exc: BaseException, reason: str) -> EnvironmentProblem | None:
    """A full disk or a failing one is not a damaged journal: moving the journal aside would
    lose the runs' state (a landing left half-done could no longer be finished), and freeing
    space is the fix. SQLite says SQLITE_FULL when a write finds no room, and a bare
    SQLITE_IOERR ("disk I/O error") when its -wal or -shm file cannot grow."""
    if (oserror := disk_problem(exc)) is not None:  # .launcher/ could not be made: ENOSPC, EROFS...
        return oserror
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    full = name == "SQLITE_FULL" or "disk is full" in reason
    io_error = name.startswith("SQLITE_IOERR") or "disk I/O error" in reason
    if not (full or io_error):
        return None
    free = _free_bytes(path)
    if full or (free is not None and free < NEARLY_FULL_BYTES):
        left = "" if free is None else f" ({free // 1024} KiB free)"
        return EnvironmentProblem(
            f"the disk is full: the journal could not be written ({reason}){left}", where=str(path),
            error_key="disk_full",
            fix=f"free space on the file system holding {path.parent}, then run the command again (`launcher "
                "resume` continues an interrupted run). Keep the journal where it is: it is not damaged, and "
                "it records what the launcher did (a landing left half-done is finished from it)",
        )
    return EnvironmentProblem(
        f"the disk could not be read or written: {reason}", where=str(path), error_key="disk_io_error",
        fix=f"check the file system holding {path.parent} (free space, quota, `dmesg` for I/O errors), then "
            "run the command again. Keep the journal where it is: an I/O error does not mean it is damaged",
    )


def read_only_place(path: Path) -> str | None:
    """Why the database at `path` cannot be written where it is (SQLite also writes its -wal and
    -shm files beside it): its file system is mounted read-only, or the file or its folder is
    read-only for this user; None when neither is."""
    with suppress(OSError):
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return f"the file system holding {path.parent} is mounted read-only"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is read-only for this user"
    if path.parent.is_dir() and not os.access(path.parent, os.W_OK):
        return f"its folder {path.parent} is read-only for this user"
    return None


def read_only(path: Path, reason: str, why: str | None = None) -> EnvironmentProblem:
    """The error for a journal that cannot be written because of where it is: it is not damaged,
    and moving it aside would only hide every run from the commands that read it."""
    why = why or read_only_place(path) or "it was opened read-only"
    return EnvironmentProblem(
        f"the journal cannot be written: {why} ({reason}); it is not damaged", where=str(path),
        error_key="journal_read_only",
        fix=f"make it writable (remount the file system holding {path.parent} read-write, or give this user write "
            "access to the file and its folder, where SQLite also writes its -wal and -shm files), then run the "
            "command again. Keep the journal where it is; commands that only read it (status, runs, logs, diff, "
            "path) work on it as it is",
    )


def unusable(path: Path, exc: BaseException) -> EnvironmentProblem:
    """The error for a database file SQLite cannot use: damaged, not a database, a directory,
    unreadable, held locked by another process, or where it cannot be written (a read-only file
    system, file or folder). Nothing is deleted: the user moves a damaged one aside."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in reason:
        return EnvironmentProblem(
            f"the journal is locked by another process (waited {BUSY_TIMEOUT_S}s): {reason}", where=str(path),
            fix="wait for the other launcher command to finish, then run this again", error_key="journal_busy",
        )
    if name.startswith("SQLITE_READONLY") or "readonly database" in reason:
        return read_only(path, reason)
    # Opening a WAL journal writes (its -shm file, the header's mode): where that cannot be done,
    # SQLite says it cannot open the file, or an I/O error.
    cannot_open = name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM", "SQLITE_AUTH")) or any(
        said in reason for said in ("unable to open", "disk I/O error"))
    if (isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)) or (
            cannot_open and read_only_place(path) is not None):  # fmt: skip
        return read_only(path, reason)
    if (disk := _disk_problem(path, exc, reason)) is not None:
        return disk
    return EnvironmentProblem(f"the journal cannot be used: {reason}", where=str(path),
                              error_key="journal_unusable", fix=_move_aside(path))


def _move_aside(path: Path) -> str:
    return (f"move it aside (mv {path} {path}.damaged, and its -wal and -shm files if any) and run "
            "again: a new journal is started. Nothing was deleted; the moved file keeps the old runs' "
            "records, and their worktrees and branches stay where they are")


class ColumnMissing(KeyError):
    """A row has no such column: the table was made by a launcher version with another layout."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def other_layout(path: Path, what: str, column: str) -> EnvironmentProblem:
    """The error for a journal whose tables lack a column this version reads (and does not know
    to add: journal_schema.ADDED_COLUMNS adds the ones it knows): not damage, another version."""
    return EnvironmentProblem(
        f"the journal was written by a launcher version whose layout this one does not know: {what} has no "
        f"column {column!r}", where=str(path), error_key="journal_other_version",
        fix="run the launcher version that wrote it (a newer one?); or, to start a new journal with this one, "
            + _move_aside(path))  # fmt: skip


def damaged(path: Path, what: str) -> EnvironmentProblem:
    """The error for a journal SQLite reads but whose rows are not what the launcher writes (a
    value of the wrong type, a state no launcher has, JSON that does not decode, rows missing):
    the same one as for a file SQLite cannot use, naming the row."""
    return EnvironmentProblem(f"the journal is damaged: {what}", where=str(path), error_key="journal_unusable",
                              fix=_move_aside(path))


def bindable(value: Any) -> Any:
    """`value` as SQLite can keep it. SQLite text is UTF-8, and a string holding a file name's
    bytes that the locale's encoding cannot decode (`os.fsdecode` keeps each as a lone surrogate,
    U+DC80-U+DCFF) is not: such a string is kept as a BLOB, its UTF-8 with the surrogates passed
    through, which `store.rows.text` reads back as the very same string. Any other value as it is."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass")
    return value


def _bindable_all(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        return {key: bindable(value) for key, value in parameters.items()}
    if isinstance(parameters, (list, tuple)):
        return tuple(bindable(value) for value in parameters)
    return parameters


def unbound(value: Any) -> Any:
    """What `bindable` kept, as it was given: a BLOB it made from a string is that string again.
    A BLOB that is not one (a damaged row) stays bytes, for the caller's check to refuse."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return value
    return value


class _Connection(sqlite3.Connection):
    """A connection whose statements fail with `unusable` when the file itself is the problem.
    An IntegrityError or ProgrammingError is the launcher's own and stays what it is. Every
    parameter goes through `bindable`: a file name's undecodable bytes never fail a write."""

    store_path: Path = Path()

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, _bindable_all(parameters))
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


@contextmanager
def _opening(directory: Path) -> Iterator[None]:
    """Launchers opening one journal are serialised (an flock on its directory, released when
    closed) until it is in WAL mode with its tables: two processes creating it at once could
    deadlock in SQLite, one holding the shared lock of a WAL connection while the other waits
    for the exclusive lock that writes the new file's header, until the busy timeout ran out.
    A file system without flock (some network mounts) opens it unserialised, as before."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _make_private(path: Path) -> None:
    """The journal holds agent output (a failure's stderr tail) and task data: created 0600
    before SQLite opens it (SQLite gives its `-wal`/`-shm` files the database file's mode), one
    an earlier launcher made 0644 narrowed with its `-wal`/`-shm`. Best effort: a journal that
    cannot be created or changed here is left to the open, which says why.

    A journal already there is never opened here, only chmod-ed: closing any descriptor of the
    database file drops the POSIX locks every SQLite connection of this process holds on it
    (another journal object, another thread), and the writers that then overlap corrupt it."""
    with suppress(OSError):  # O_EXCL: only a file this call creates, which no connection holds
        os.close(open_private(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW))
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        narrow(path.with_name(name))


class SqliteStore:
    """The journal and the mutant store share one database file (`.launcher/launcher.db`):
    WAL lets readers (`launcher status`) run beside the one writer; `BEGIN IMMEDIATE` takes the
    write lock up front, so a busy database waits (timeout) instead of failing mid-transaction."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self.read_only: str | None = None  # why this connection only reads (`_open_read_only`)
        try:
            make_private_dirs(path.parent)
        except OSError as exc:
            raise unusable(path, exc) from exc
        with _opening(path.parent):
            _make_private(path)
            try:
                self._open(path, schema)
            except EnvironmentProblem as problem:
                if problem.error_key != "journal_read_only" or not path.is_file():
                    raise
                self._open_read_only(path, schema, problem)

    def _open(self, path: Path, schema: str) -> None:
        try:
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
            self._create_schema(schema)
        except BaseException:
            self._db.close()
            raise

    def _open_read_only(self, path: Path, schema: str, problem: EnvironmentProblem) -> None:
        """A journal where it cannot be written (a read-only mount, file or folder), opened to
        read: `mode=ro`, else, when SQLite cannot make the -shm file a WAL reader needs there,
        `immutable=1` (no locks, no -shm), unless a -wal file holds writes not yet in the file
        (which only a reader with a -shm sees). A write then fails with `read_only`'s error."""
        why = read_only_place(path) or "it cannot be written"
        wal = path.with_name(path.name + "-wal")
        pending = wal.exists() and wal.stat().st_size > 0
        for query in ("mode=ro", "immutable=1"):
            if query == "immutable=1" and pending:
                break
            try:
                db = sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, timeout=BUSY_TIMEOUT_S,
                                     isolation_level=None, check_same_thread=False, factory=_Connection)  # fmt: skip
            except (OSError, sqlite3.DatabaseError):
                continue
            assert isinstance(db, _Connection)
            try:  # SQLite opens lazily: a first read says whether it can
                sqlite3.Connection.execute(db, "SELECT count(*) FROM main.sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                db.close()
                if unusable(path, exc).error_key == "journal_read_only":
                    continue  # this way cannot read it there: the next one may
                raise unusable(path, exc) from exc  # a damaged file, wherever it is
            db.store_path = path
            self._db = db
            self._db.row_factory = sqlite3.Row
            self.read_only = why
            try:
                self._create_schema(schema)
            except BaseException:
                self._db.close()
                raise
            return
        if pending:
            raise EnvironmentProblem(
                f"the journal cannot be read where it is: {why}, and its {wal.name} file holds writes not yet in "
                f"{path.name}, which SQLite reads only through a -shm file it cannot make there; it is not damaged",
                where=str(path), error_key="journal_read_only",
                fix=f"make {path.parent} writable (remount its file system read-write, or give this user write "
                    "access to it) and run the command again; keep the journal and its -wal file where they are")
        raise problem

    def _create_schema(self, schema: str) -> None:
        """The store's tables, made where missing (serialised with other openers). Read-only,
        a missing table is an empty TEMP one of this connection's (nothing is written)."""
        if self.read_only is None:
            self._db.executescript(schema)
            return
        present = {str(row[0]) for row in self._db.execute("SELECT name FROM main.sqlite_master WHERE type='table'")}
        for statement in schema.split(";"):
            found = _CREATE_TABLE.match(statement.strip())
            if found and found.group(1) not in present:
                self._db.execute(statement.strip().replace("CREATE TABLE", "CREATE TEMP TABLE", 1))

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def decoding(self, what: str) -> Iterator[None]:
        """Where a row becomes a model (`what`: `run r-...`, `task t1 of run r-...`): a value the
        launcher never writes (`store.rows.RowDamaged`, a failed enum, JSON or model check) is
        the journal being damaged (exit 3, move it aside), not a launcher bug."""
        try:
            yield
        except ColumnMissing as exc:
            raise other_layout(self.path, what, exc.column) from exc
        except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise damaged(self.path, f"{what}: {reason}") from exc

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def free_id(draw: Callable[[], str], taken: Callable[[str], bool], *, draws: int = 32) -> str:
    """An id from `draw` that `taken` says no row holds (ids carry a few random characters, so two
    records made in one second can draw the same one: draw again). Call it inside the write
    transaction that inserts the id, so no other writer takes it in between."""
    for _ in range(draws):
        candidate = draw()
        if not taken(candidate):
            return candidate
    raise RuntimeError(f"{draws} ids drawn in a row were all taken (the last: {candidate!r})")


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
