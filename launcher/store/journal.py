"""The run journal: SQLite in WAL mode. Every transition is written before it counts as done."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from launcher import process_identity, wall_clock
from launcher.errors import RunNotFound
from launcher.models.states import RunStatus, TaskState
from launcher.store import journal_schema
from launcher.store import rows as col
from launcher.store.journal_masks import Passed, RunMasks
from launcher.store.journal_rows import BEST_OF_N, NO_CHANGES, RunRow, TaskRow, run_row, task_row
from launcher.store.journal_schema import PROCESSES_SCHEMA, SCHEMA
from launcher.store.run_claim import RunBusy, RunClaims, held_by_other
from launcher.store.sqlite import damaged, free_id, read_only_rows

MAX_NOTES = 500  # per run: an agent looping on something noteworthy cannot grow the journal
MAX_NOTE_CHARS = 2000

_TASK_COLUMNS = {
    "branch", "worktree", "start_sha", "head_sha", "merged", "merge_commit", "cost_usd",
    "duration_s", "iteration", "agent_pgid", "round_base", "approval_hash", "included_json",
    "included_blobs_json", "files_json", "contract_json", "message", "contract_dir",
}




class Journal(RunClaims):
    """One connection per process; short write transactions keep SQLite's single writer happy.
    A journal an older launcher wrote is brought up to this version's layout at this process's
    first write, never by a command that only reads it (journal_schema.py), and never while a
    live launcher other than this one drives a run in it (`_migrate`). With `passed` (see
    journal_masks.py), the values a run passes to its agents and checks are masked in the text
    it keeps for people (messages, a contract's prose, notes), never in what the launcher reads
    back as data (a contract's files and ids, an audit line's criterion ids: journal_masks.py)."""

    def __init__(self, path: Path, passed: Passed | None = None) -> None:
        self._older = False  # an older launcher's journal, read through TEMP shadows until a write
        self._masks = RunMasks(passed)
        super().__init__(path, SCHEMA + PROCESSES_SCHEMA)

    def masked(self, run_id: str, text: str, *, commands: bool = False) -> str:
        """`text` as the journal would keep it for `run_id` (what the run passed masked);
        `commands`: a message or note (RunMasks.text)."""
        return self._masks.text(self._db, run_id, text, commands=commands) or text

    def passed_values(self, run_id: str) -> Mapping[str, str]:
        """value -> name of what `run_id` passes to its agents and checks (to mask elsewhere)."""
        return self._masks.of(self._db, run_id)

    def _create_schema(self, schema: str) -> None:
        found = journal_schema.layout(self._db)
        if not found.older:  # a new journal, or one this version already brought up to date
            super()._create_schema(schema)
            if journal_schema.layout(self._db).missing_columns:  # a new one: those SCHEMA lacks
                with super()._tx() as db:
                    journal_schema.migrate(db)
            return
        journal_schema.shadow(self._db, found)
        self._older = True

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self._older:
            self._migrate()
        with super()._tx() as db:
            yield db

    def _migrate(self) -> None:
        """Add what this version's journal has and the file lacks, in one write transaction
        (checked again there: launchers migrating at the same moment do not both add a column).
        Refused, changing nothing, while another live launcher drives a run here: that is an
        older launcher (a current one would have migrated it), which writes rows by position and
        would fail on the wider tables at its next write."""
        with super()._tx() as db:
            if journal_schema.layout(db).older:
                self._refuse_if_driven(db)
            journal_schema.unshadow(db)
            journal_schema.migrate(db)
        self._older = False

    def _refuse_if_driven(self, db: sqlite3.Connection) -> None:
        rows = db.execute("SELECT id, launcher_pid, launcher_started FROM runs WHERE status=?",
                          (RunStatus.RUNNING.value,)).fetchall()
        for row in rows:
            pid, started = row["launcher_pid"], row["launcher_started"]
            if not isinstance(pid, int) or not held_by_other(pid, started if isinstance(started, int) else None):
                continue
            raise RunBusy(
                f"this journal was written by an older launcher, which still drives run {row['id']} (pid {pid}); "
                "this launcher would add the columns it needs to the journal, and that older launcher would then "
                "fail at its next write, so this command stopped before writing to the journal", where=str(self.path),
                fix=f"let run {row['id']} finish (`launcher status {row['id']}` shows it), or "
                    f"{process_identity.stop_advice(pid)} and continue the run with this launcher "
                    f"(`launcher resume {row['id']}`); then run this command again")

    # runs -----------------------------------------------------------------------------------
    def create_run(
        self, draw_id: Callable[[], str], *, repo: str, base_sha: str, target: str, plan: dict[str, Any],
        settings: dict[str, Any], task_ids: list[str], launcher_pid: int,
    ) -> str:
        """Journal a new run under an id `draw_id` gives that no run holds (two runs started in one
        second can draw the same id: the second draws again); returns the id."""
        now, (boot, since_boot) = time.time(), wall_clock.boot_clock()
        with self._tx() as db:  # claimed by its launcher from the start (store/run_claim.py)
            run_id = free_id(draw_id, lambda candidate: db.execute(
                "SELECT 1 FROM runs WHERE id=?", (candidate,)).fetchone() is not None)
            db.execute(
                "INSERT INTO runs (id, repo, base_sha, target, status, plan_json, settings_json, launcher_pid,"
                " message, landed_on, created_at, updated_at, launcher_started, updated_boot, updated_since_boot)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, repo, base_sha, target, RunStatus.RUNNING.value, json.dumps(plan),
                 json.dumps(settings), launcher_pid, "", None, now, now,
                 process_identity.start_time(launcher_pid), boot, since_boot),
            )
            for position, task_id in enumerate(task_ids):
                db.execute(
                    "INSERT INTO tasks (run_id, task_id, position, state, updated_at) VALUES (?,?,?,?,?)",
                    (run_id, task_id, position, TaskState.PENDING.value, now),
                )
                db.execute(
                    "INSERT INTO transitions (run_id, task_id, from_state, to_state, at) VALUES (?,?,?,?,?)",
                    (run_id, task_id, None, TaskState.PENDING.value, now),
                )
        return run_id

    def set_run(self, run_id: str, *, status: RunStatus | None = None, message: str | None = None,
                launcher_pid: int | None = None, landed_on: str | None = None,
                settings: dict[str, Any] | None = None, exit_code: int | None = None) -> None:
        """Update the run's row; `settings` are merged into the stored ones. The command holding
        the run's claim now drives it: the status the claim kept aside is no longer the run's.
        `exit_code` goes with `status`: the code of the error that stopped the run (errors.stop_cause),
        None for any other status change (an `interrupted` run without one was stopped by a signal)."""
        with self._tx() as db:
            db.execute("UPDATE runs SET prior_status=NULL WHERE id=?", (run_id,))
            if settings:
                row = db.execute("SELECT settings_json FROM runs WHERE id=?", (run_id,)).fetchone()
                with self.decoding(f"run {run_id}"):
                    earlier = col.json_of(row, "settings_json", dict) if row else {}
                stored = {**earlier, **settings}
                db.execute("UPDATE runs SET settings_json=? WHERE id=?", (json.dumps(stored), run_id))
            if status is not None:
                db.execute("UPDATE runs SET status=?, exit_code=?, updated_at=?, updated_boot=?, "
                           "updated_since_boot=? WHERE id=?",
                           (status.value, exit_code, time.time(), *wall_clock.boot_clock(), run_id))
            if message is not None:
                db.execute("UPDATE runs SET message=? WHERE id=?", (self._masks.text(db, run_id, message), run_id))
            if launcher_pid is not None:
                db.execute("UPDATE runs SET launcher_pid=? WHERE id=?", (launcher_pid, run_id))
            if landed_on is not None:
                db.execute("UPDATE runs SET landed_on=? WHERE id=?", (landed_on, run_id))

    def run(self, run_id: str) -> RunRow:
        row = self._db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(
                f"no run {run_id!r} in {self.path}", fix="`launcher runs` lists the runs"
            )
        with self.decoding(f"run {run_id}"):
            return run_row(row)

    def _plan_task_ids(self, run_id: str) -> list[str] | None:
        """The task ids of the run's journaled plan (None: no such run); a row for each was
        written with the run, in one transaction."""
        tasks = self._plan_tasks(run_id)
        with self.decoding(f"run {run_id}"):
            return None if tasks is None else [str(task["id"]) for task in tasks]

    def _plan_tasks(self, run_id: str) -> list[Any] | None:
        """The tasks of the run's journaled (expanded) plan; None: no such run."""
        row = self._db.execute("SELECT plan_json FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            return None
        with self.decoding(f"run {run_id}"):
            return list(col.json_of(row, "plan_json", dict).get("task", []))

    def runs(self, limit: int = 20) -> list[RunRow]:
        """The latest `limit` runs, the one started last first. "Latest" is the journal's insertion
        order (rowid), never `created_at`: a wall clock stepped back (NTP correcting a fast clock)
        would make an older run look newer, and `land`/`status`/`clean` act on the wrong one."""
        ids = [r["id"] for r in self._db.execute(
            "SELECT id FROM runs ORDER BY rowid DESC LIMIT ?", (limit,))]
        return [self.run(i) for i in ids]

    def latest_run_id(self) -> str | None:
        row = self._db.execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()  # see `runs`
        return row["id"] if row else None

    # tasks ----------------------------------------------------------------------------------
    def transition(self, run_id: str, task_id: str, state: TaskState, message: str = "",
                   **fields: Any) -> None:
        """Record a state change (and any task fields) in one transaction."""
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT state FROM tasks WHERE run_id=? AND task_id=?",
                             (run_id, task_id)).fetchone()
            previous = row["state"] if row else None
            message, fields = self.masked(run_id, message, commands=True), self._masks.fields(db, run_id, fields)
            self._update(db, run_id, task_id, {**fields, "message": message}, state=state, now=now)
            db.execute("UPDATE runs SET prior_status=NULL WHERE id=?", (run_id,))  # driven now: set_run
            db.execute(
                "INSERT INTO transitions (run_id, task_id, from_state, to_state, message, at) VALUES (?,?,?,?,?,?)",
                (run_id, task_id, previous, state.value, message, now),
            )

    def update_task(self, run_id: str, task_id: str, **fields: Any) -> None:
        with self._tx() as db:
            self._update(db, run_id, task_id, self._masks.fields(db, run_id, fields), state=None, now=time.time())

    @staticmethod
    def _update(db: sqlite3.Connection, run_id: str, task_id: str, fields: dict[str, Any],
                *, state: TaskState | None, now: float) -> None:
        values: dict[str, Any] = {}
        for key, value in fields.items():
            column = {"included": "included_json", "included_blobs": "included_blobs_json",
                      "files": "files_json", "contract": "contract_json"}.get(key, key)
            if column not in _TASK_COLUMNS:
                raise KeyError(f"unknown task column {key!r}")
            if column.endswith("_json") and value is not None:
                value = json.dumps(value)
            values[column] = value
        if state is not None:
            values["state"] = state.value
        values["updated_at"] = now
        assignments = ", ".join(f"{column}=?" for column in values)
        db.execute(f"UPDATE tasks SET {assignments} WHERE run_id=? AND task_id=?",
                   (*values.values(), run_id, task_id))

    def task_count(self, run_id: str) -> int:
        """The run's tasks as its plan names them: a best-of-N task's attempt rows (the ids its
        journaled plan lists in `select_from`) are not counted again. Never from an id's shape:
        a user's own task may be named `api.attempt-1` beside `api`."""
        ids = {str(row[0]) for row in self._db.execute("SELECT task_id FROM tasks WHERE run_id=?", (run_id,))}
        if not ids:
            self._rows_lost(run_id)
        return len(ids - self._attempt_ids(run_id))

    def _attempt_ids(self, run_id: str) -> set[str]:
        """The ids of the run's best-of attempt tasks, as its journaled (expanded) plan says."""
        tasks = self._plan_tasks(run_id) or []
        with self.decoding(f"run {run_id}"):
            return {str(attempt) for task in tasks if isinstance(task, dict)
                    for attempt in task.get("select_from") or []}

    def _rows_lost(self, run_id: str) -> None:
        """Raise the damage error when the run's plan has tasks, none of which has a row."""
        if planned := self._plan_task_ids(run_id):  # a row for each was written with the run
            raise damaged(self.path, f"run {run_id}: its {len(planned)} task(s) ({', '.join(planned[:5])}"
                                     f"{', ...' if len(planned) > 5 else ''}) have no rows in the tasks table")

    def tasks(self, run_id: str) -> list[TaskRow]:
        rows = self._db.execute(
            "SELECT * FROM tasks WHERE run_id=? ORDER BY position", (run_id,)).fetchall()
        if not rows:
            self._rows_lost(run_id)
        return [self._task(row) for row in rows]

    def running_trees(self, run_id: str) -> list[tuple[str, str, str | None, int]]:
        """(task, worktree, start commit, round) of the run's running tasks: read every second
        while a run goes (app/queue/touched.py), so without their contracts and file lists."""
        rows = self._db.execute("SELECT task_id, worktree, start_sha, iteration FROM tasks WHERE run_id=? AND state=? "
                                "AND worktree IS NOT NULL ORDER BY position", (run_id, TaskState.RUNNING.value))
        with self.decoding(f"the running tasks of run {run_id}"):
            return [(col.text(r, "task_id"), col.text(r, "worktree"), col.optional_text(r, "start_sha"),
                     col.integer(r, "iteration")) for r in rows.fetchall()]

    def task(self, run_id: str, task_id: str) -> TaskRow:
        row = self._db.execute("SELECT * FROM tasks WHERE run_id=? AND task_id=?",
                               (run_id, task_id)).fetchone()
        if row is None:
            if task_id in (self._plan_task_ids(run_id) or []):  # its plan has it: its row was lost
                raise damaged(self.path, f"run {run_id}: task {task_id!r} of its plan has no row in the tasks table")
            raise RunNotFound(f"run {run_id!r} has no task {task_id!r}",
                              fix=f"`launcher status {run_id}` lists its tasks")
        return self._task(row)

    def _task(self, row: sqlite3.Row) -> TaskRow:
        with self.decoding(f"task {row['task_id']!r} of run {row['run_id']}"):
            return task_row(row)

    def history(self, run_id: str, task_id: str) -> list[tuple[str | None, str, str, float]]:
        rows = self._db.execute(
            "SELECT from_state, to_state, message, at FROM transitions WHERE run_id=? AND task_id=? ORDER BY id",
            (run_id, task_id)).fetchall()
        with self.decoding(f"a transition of task {task_id!r} of run {run_id}"):
            return [(col.optional_text(r, "from_state"), col.text(r, "to_state"), col.optional_text(r, "message") or "",
                     col.number(r, "at")) for r in rows]

    # grading rounds -------------------------------------------------------------------------
    def record_round(self, run_id: str, task_id: str, iteration: int, *, verdict: str | None,
                     audit: str | None, error_key: str | None, verdict_sha256: str | None = None) -> None:
        # `audit` is the launcher's line (rubric version, verdict, the failing criteria's ids, read
        # back by `failing_in_audit`): no agent's words, never masked.
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO rounds (run_id, task_id, iteration, verdict, audit, error_key, at, "
                       "verdict_sha256) VALUES (?,?,?,?,?,?,?,?)",
                       (run_id, task_id, iteration, verdict, audit, error_key,
                        time.time(), verdict_sha256))

    def verdict_digest(self, run_id: str, task_id: str, iteration: int) -> str | None:
        """The sha256 of the verdict file the launcher wrote for this grading round, if journaled."""
        row = self._db.execute("SELECT verdict_sha256 FROM rounds WHERE run_id=? AND task_id=? AND iteration=?",
                               (run_id, task_id, iteration)).fetchone()
        return row["verdict_sha256"] if row else None

    def rounds(self, run_id: str, task_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT iteration, verdict, audit, error_key FROM rounds WHERE run_id=? AND task_id=? ORDER BY iteration",
            (run_id, task_id)).fetchall()
        with self.decoding(f"a grading round of task {task_id!r} of run {run_id}"):
            return [{"iteration": col.integer(r, "iteration"), "verdict": col.optional_text(r, "verdict"),
                     "audit": col.optional_text(r, "audit"), "error_key": col.optional_text(r, "error_key")}
                    for r in rows]

    # landing --------------------------------------------------------------------------------
    def record_landing(self, run_id: str, *, target: str, expected_old: str, new_tip: str,
                       tasks: dict[str, str]) -> None:
        """The intent, written before any ref or file moves, so a crash at any later step is
        recognised on resume (the steps that follow are recorded by `landing_step`)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO landings (run_id, target, expected_old, new_tip, tasks_json,"
                " done, at, main_tree, progress) VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, target, expected_old, new_tip, json.dumps(tasks), 0, time.time(), 0, "intent"))

    def landing_step(self, run_id: str, progress: str, *, main_tree: bool | None = None) -> None:
        """The step the landing is about to take (or has just finished); `main_tree` says that
        the main work tree must follow the target."""
        with self._tx() as db:
            db.execute("UPDATE landings SET progress=? WHERE run_id=?", (progress, run_id))
            if main_tree is not None:
                db.execute("UPDATE landings SET main_tree=? WHERE run_id=?", (int(main_tree), run_id))

    def landing(self, run_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM landings WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            return None
        data = dict(row)
        with self.decoding(f"the landing of run {run_id}"):
            data["tasks"] = col.json_of(row, "tasks_json", dict)
            del data["tasks_json"]
            data["main_tree"] = bool(col.integer(row, "main_tree"))
            for key in ("target", "expected_old", "new_tip", "progress"):
                data[key] = col.text(row, key)
        return data

    def unfinished_landings(self) -> list[str]:
        """Runs whose journaled landing was never marked finished, oldest first."""
        rows = self._db.execute("SELECT run_id FROM landings WHERE done=0 ORDER BY rowid").fetchall()
        return [row["run_id"] for row in rows]

    def finish_landing(self, run_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE landings SET done=1 WHERE run_id=?", (run_id,))

    # notes: what a run did besides its tasks' states (work set aside, refs put back, ...) -----
    def add_note(self, run_id: str, task_id: str | None, message: str) -> None:
        with self._tx() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM notes WHERE run_id=?", (run_id,)).fetchone()
            if count < MAX_NOTES:
                db.execute("INSERT INTO notes VALUES (?,?,?,?)",
                           (run_id, task_id, time.time(), self.masked(run_id, message, commands=True)[:MAX_NOTE_CHARS]))

    def notes(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT task_id, at, message FROM notes WHERE run_id=? ORDER BY rowid",
                                (run_id,)).fetchall()
        with self.decoding(f"a note of run {run_id}"):
            return [{"task_id": col.optional_text(r, "task_id"), "at": col.number(r, "at"),
                     "message": col.text(r, "message")} for r in rows]

    # processes ------------------------------------------------------------------------------
    def record_process(self, run_id: str, task_id: str | None, pgid: int, kind: str,
                       argv_head: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO processes VALUES (?,?,?,?,?,?,?)",
                       (run_id, task_id, pgid, kind, argv_head[:200], time.time(), None))

    def end_process(self, run_id: str, pgid: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE processes SET ended=? WHERE run_id=? AND pgid=? AND ended IS NULL",
                       (time.time(), run_id, pgid))

    def live_processes(self, run_id: str) -> list[dict[str, Any]]:
        """Children journaled as started and never as ended: a dead launcher's leftovers."""
        rows = self._db.execute(
            "SELECT task_id, pgid, kind, argv_head, started FROM processes "
            "WHERE run_id=? AND ended IS NULL ORDER BY started", (run_id,)).fetchall()
        with self.decoding(f"a process of run {run_id}"):
            return [{"task_id": col.optional_text(r, "task_id"), "pgid": col.integer(r, "pgid"),
                     "kind": col.text(r, "kind"), "argv_head": col.text(r, "argv_head"),
                     "started": col.number(r, "started")} for r in rows]


def run_ids_in(path: Path) -> set[str]:
    """The run ids another checkout's journal records, read-only (nothing is created or migrated
    there); empty when it is missing or unreadable."""
    return {row[0] for row in read_only_rows(path, "SELECT id FROM runs") or []}


__all__ = ["BEST_OF_N", "MAX_NOTES", "MAX_NOTE_CHARS", "NO_CHANGES", "Journal", "RunRow", "TaskRow", "run_ids_in"]
