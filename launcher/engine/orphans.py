"""Find and kill the processes a launcher that died (kill -9) left behind."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from launcher.engine.reaper import proc_environ, proc_stat
from launcher.spawn_observer import SpawnObserver
from launcher.store.journal import Journal


def _pgid_of(pid: int) -> int | None:
    stat = proc_stat(pid)
    return stat[2] if stat else None


def _belongs_to_run(pid: int, run_id: str) -> bool:
    return f"LAUNCHER_RUN_ID={run_id}".encode() in proc_environ(pid)


def run_processes(run_id: str, pgids: set[int]) -> list[int]:
    """Live pids in those process groups that carry this run's LAUNCHER_RUN_ID."""
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if _pgid_of(pid) in pgids and _belongs_to_run(pid, run_id):
            found.append(pid)
    return found


def kill_orphans(run_id: str, pgids: set[int]) -> list[int]:
    """SIGKILL what an earlier launcher of this run left running; returns the pids killed."""
    victims = run_processes(run_id, pgids)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return victims


# The launcher's own git commands run no agent-written code (hooks are off) and end within the
# call; journaling each would double the journal's writes for nothing a crash could leave behind.
_NOT_JOURNALED = {"git"}


def journaling_observer(journal: Journal, run_id: str, task_id: str | None) -> SpawnObserver:
    """A spawn observer that journals each child of `task_id` (None: the run's own, e.g. the
    integration check) before it can outlive us, and marks it ended once it is reaped."""
    recorded: set[int] = set()

    def started(pgid: int, argv: Sequence[str], kind: str) -> None:
        if not argv or Path(argv[0]).name in _NOT_JOURNALED:
            return
        recorded.add(pgid)
        journal.record_process(run_id, task_id, pgid, kind, shlex.join(list(argv))[:200])

    def ended(pgid: int) -> None:
        if pgid in recorded:
            recorded.discard(pgid)
            journal.end_process(run_id, pgid)

    return SpawnObserver(started, ended)


def _ancestors() -> set[int]:
    """This process and its ancestors: a launcher started from inside a run's agent carries
    that run's id too, and must not kill itself or its parents."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        stat = proc_stat(pid)
        if stat is None:
            break
        pid = stat[1]
    return found


def escaped_processes(run_id: str) -> list[int]:
    """Live pids in any process group that carry this run's id: descendants that left their
    group (`setsid` daemons) and were re-parented to init when the launcher died."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    mine = _ancestors()
    return [int(e.name) for e in proc.iterdir()
            if e.name.isdigit() and int(e.name) not in mine and _belongs_to_run(int(e.name), run_id)]


def _await_gone(pids: list[int], limit_s: float) -> None:
    """SIGKILL is delivered asynchronously: wait (bounded) until each victim is dead, reaping
    those that became our own children (a subreaper inherits orphans) so none stays a zombie."""
    deadline = time.monotonic() + limit_s
    pending = set(pids)
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
            if not _running(pid):
                pending.discard(pid)
        if pending:
            time.sleep(0.02)


def _running(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] not in (b"Z", b"X")


def reap_journaled(journal: Journal, run_id: str, agent_pgids: set[int]) -> list[int]:
    """Kill every live process of a journaled group that still carries this run's id (a dead
    launcher's agents, checks, setup, graders, integration checks), and every other process
    carrying it (daemons that escaped their group); mark those groups ended. Only called when
    no launcher of this run is alive."""
    live = journal.live_processes(run_id)
    victims = kill_orphans(run_id, agent_pgids | {row["pgid"] for row in live})
    for pid in escaped_processes(run_id):
        if pid not in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            victims.append(pid)
    _await_gone(victims, 2.0)
    for row in live:
        journal.end_process(run_id, row["pgid"])
    return victims


def kill_escaped(run_id: str) -> list[int]:
    """Kill every process carrying this id that is not ours or an ancestor (what a killed
    launcher left running outside any journal: a judge's CLI). Only called when no launcher
    using this id is alive."""
    victims = escaped_processes(run_id)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _await_gone(victims, 2.0)
    return victims


def _under(value: bytes, folders: set[bytes]) -> bool:
    return any(value == folder or value.startswith(folder + b"/") for folder in folders)


def kill_marked_under(name: str, folder: Path) -> list[int]:
    """Kill every process (not ours or an ancestor) whose variable `name` names `folder` or a path
    under it: what a killed mutation sweep's workers started (each carries its worker tree in
    LAUNCHER_MUTATION_WORKER), in groups and sessions of their own. Only called when no launcher
    of that sweep is alive. Returns the pids killed."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    folders = {os.fsencode(str(p)).rstrip(b"/") for p in (folder.absolute(), folder.resolve())}
    prefix = f"{name}=".encode()
    mine = _ancestors()
    killed: list[int] = []
    for _ in range(5):  # one forked between the reading and the killing is found next time
        victims = []
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) in mine or not _running(int(entry.name)):
                continue
            values = [v[len(prefix):] for v in proc_environ(int(entry.name)) if v.startswith(prefix)]
            if any(_under(value, folders) for value in values):
                victims.append(int(entry.name))
        if not victims:
            break
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _await_gone(victims, 2.0)
        killed += [pid for pid in victims if pid not in killed]
    return killed
