"""Which launcher process drives a run now: the claim on a run's row.

Every command that drives a run (`run`, `resume`, `land`, `choose`, `grade`, a workflow's
phase, `clean` while it removes the run's trees) claims it first: in ONE write transaction it
reads the run's status and launcher (pid and start time) and, unless another live launcher holds
it, records itself as the run's launcher with the status `running`, keeping the run's own
status in `prior_status` until the command drives the run (journals a task's transition or the
run's row): a command killed before that (`clean`, a `choose` or `grade` refused later) leaves
a finished run shown as it was, not `interrupted`. Two commands started
together therefore never both pass "is anyone driving it?" (the check and the claim are one
step under SQLite's write lock). A launcher killed with -9 keeps its claim in the journal, but
its pid no longer names a live process of that start time, so the next command may claim it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from launcher import process_identity
from launcher.errors import RunNotFound, UsageProblem
from launcher.models.states import RunStatus
from launcher.store import rows as col
from launcher.store.sqlite import SqliteStore


class RunBusy(UsageProblem):
    """Another live launcher drives the run (exit 2)."""

    default_key = "run_busy"


def is_self(pid: int | None, started: int | None) -> bool:
    """Whether the recorded launcher is this process: its pid *and* its start time. A dead
    launcher whose pid the kernel has since given to this process is not us (its claim is a
    dead one); a claim recorded without a start time (an older launcher) goes by the pid."""
    if not pid or pid != os.getpid():
        return False
    return started is None or started == process_identity.start_time(pid)


def held_by_other(pid: int | None, started: int | None) -> bool:
    """Whether `pid` (started at `started`) is a live launcher other than this process."""
    return bool(pid) and not is_self(pid, started) and process_identity.launcher_alive(pid or 0, started)


def holder_gone(pid: int | None, started: int | None) -> bool:
    """Whether the recorded launcher is another process that no longer runs (killed, crashed),
    including one whose pid now belongs to this very process (pid reuse)."""
    return bool(pid) and not is_self(pid, started) and not process_identity.launcher_alive(pid or 0, started)


@dataclass(frozen=True)
class Claim:
    """This process's claim on a run, and what the row said before (put back on release when
    the command drove nothing: a refused `choose` does not leave a settled run `running`)."""

    run_id: str
    pid: int
    started: int | None
    previous_status: RunStatus
    previous_pid: int | None
    previous_started: int | None


class RunClaims(SqliteStore):
    """The claim columns of the `runs` table (`launcher_pid`, `launcher_started`)."""

    def claim_run(self, run_id: str, command: str) -> Claim:
        """Record this process as the run's launcher, or raise RunBusy naming the live one."""
        pid, started = os.getpid(), process_identity.start_time(os.getpid())
        with self._tx() as db:
            row = db.execute("SELECT status, launcher_pid, launcher_started, prior_status FROM runs WHERE id=?",
                             (run_id,)).fetchone()
            if row is None:
                raise RunNotFound(f"no run {run_id!r} in {self.path}", fix="`launcher runs` lists the runs")
            with self.decoding(f"run {run_id}"):
                status = col.member(row, "status", RunStatus)
                holder, holder_started = col.optional_integer(row, "launcher_pid"), col.optional_integer(
                    row, "launcher_started")
                prior = col.optional_member(row, "prior_status", RunStatus)
            self._refuse_if_held(run_id, command, status, holder, holder_started)
            if status is RunStatus.RUNNING and prior is not None:
                status = prior  # a dead command's claim that changed nothing
            db.execute("UPDATE runs SET status=?, launcher_pid=?, launcher_started=?, prior_status=? WHERE id=?",
                       (RunStatus.RUNNING.value, pid, started, status.value, run_id))
        return Claim(run_id, pid, started, status, holder, holder_started)

    def check_free(self, run_id: str, command: str) -> None:
        """Raise RunBusy, changing nothing, while another live launcher drives the run: a command
        that records its own state first (a workflow's runner) checks before it records."""
        row = self._db.execute("SELECT status, launcher_pid, launcher_started FROM runs WHERE id=?",
                               (run_id,)).fetchone()
        if row is not None:
            with self.decoding(f"run {run_id}"):
                status = col.member(row, "status", RunStatus)
                holder, started = col.optional_integer(row, "launcher_pid"), col.optional_integer(
                    row, "launcher_started")
            self._refuse_if_held(run_id, command, status, holder, started)

    def _refuse_if_held(self, run_id: str, command: str, status: RunStatus, holder: int | None,
                        holder_started: int | None) -> None:
        if status is RunStatus.RUNNING and held_by_other(holder, holder_started):
            raise RunBusy(
                f"run {run_id} is still running (launcher pid {holder}), so `launcher {command}` "
                "leaves it alone", where=str(self.path),
                fix=f"wait for that launcher to finish (`launcher status {run_id}` shows the run), "
                    f"or {process_identity.stop_advice(holder or 0)}, then run `launcher {command}` again")

    def release_run(self, claim: Claim) -> None:
        """The command ends. A run it left `running` under its own claim (refused before it
        drove anything, or it drove nothing that settles the status) gets its earlier status
        back; one it settled (succeeded, interrupted, ...) is left as it is."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, launcher_pid=?, launcher_started=?, prior_status=NULL WHERE id=? "
                "AND status=? AND launcher_pid=? AND launcher_started IS ?",
                (claim.previous_status.value, claim.previous_pid, claim.previous_started, claim.run_id,
                 RunStatus.RUNNING.value, claim.pid, claim.started))
