"""Processes that escaped their process group (a `setsid` daemon) are brought back and killed.

The process wrapper kills an agent's whole process group, but a descendant that started its own
session is out of reach, and when its parent exits it is re-parented to init and outlives the
run. On Linux the launcher makes itself a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`), so
such orphans are re-parented to the launcher instead; after each round the ones carrying this
run's (and the task's) LAUNCHER_RUN_ID / LAUNCHER_TASK_ID are SIGKILLed and reaped (a mutation
sweep's, after each mutant, by its worker's marker: `reap_marked`). Only the launcher's own
descendants are ever re-parented to it, so a child of the launcher that it did not start itself
came from one of its process trees even when it carries none of these variables (a `setsid env
-i` daemon): it is killed too, after any task's round and at the run's end. Elsewhere this is
a no-op.

Only pids found this way are waited for: the launcher's own children (agents, checks, git) are
waited for by anyio, never killed here (`process.own_children`), nor is a process still in the
group of one of them (killed with its group). The list of own children is read after the
candidates: a candidate is killed only if it is, after that read, still the same live process
(its start time), so an own child that exited and was collected in between (or whose pid was
taken again) is not; a zombie is already dead, never killed nor counted; and only the processes
the signal reached are reported as killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from launcher import process

PR_SET_CHILD_SUBREAPER = 36
_REAP_WAIT_S = 2.0


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def proc_stat(pid: int) -> tuple[bytes, int, int] | None:
    """(state, parent pid, process group) from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return (fields[0], int(fields[1]), int(fields[2])) if len(fields) > 2 else None


def _start_time(pid: int) -> bytes | None:
    """The process's start time (clock ticks since boot: /proc/<pid>/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _live(pid: int) -> tuple[bytes, int] | None:
    """(start time, parent pid) of a process that is not a zombie, else None."""
    stat, started = proc_stat(pid), _start_time(pid)
    return None if stat is None or started is None or stat[0] == b"Z" else (started, stat[1])


def _still_the_same(seen: dict[int, bytes]) -> list[int]:
    """Those of `seen` (pid -> start time when found) that are still that same live process and
    our child: not exited, collected and its pid reused in between."""
    me = os.getpid()
    return [pid for pid, started in seen.items() if _live(pid) == (started, me)]


def _parent_of(pid: int) -> int | None:
    stat = proc_stat(pid)
    return stat[1] if stat else None


def reap_orphan_zombies() -> int:
    """Collect exited orphans re-parented to us (a subreaper must, or they stay zombies).

    Zombies that are not their group's leader: every process the launcher spawns itself leads
    its own group and is waited for by anyio, never here; and leaders (an exited `setsid`
    daemon) that are not among the launcher's own children, read after the zombies were: an
    own child that exits meanwhile is listed then, or already collected (gone)."""
    me, reaped = os.getpid(), 0
    zombies = [(pid, stat) for pid in _candidates() if (stat := proc_stat(pid)) and stat[0] == b"Z" and stat[1] == me]
    # A tracked group's leader, read after the zombies, is an own child exited and not collected
    # yet (most zombies here): passed over before the costly list of own children is read.
    zombies = _not_tracked(zombies, groups=False)
    # A leader gone since (collected by whoever started it: an own child, untracked once
    # collected) is no orphan of ours; only those still zombies need the costly list.
    zombies = [(pid, stat) for pid, stat in zombies if stat[2] != pid or _still_zombie(pid, me)]
    leaders = [pid for pid, stat in zombies if stat[2] == pid]
    own = _own_children() if leaders else set()
    for pid, stat in zombies:
        if stat[2] != pid or (own is not None and pid not in own):
            with contextlib.suppress(ChildProcessError):
                reaped += bool(os.waitpid(pid, os.WNOHANG)[0])
    return reaped


def _still_zombie(pid: int, parent: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] == b"Z" and stat[1] == parent


_STARTING_WAIT_S = 0.1  # for the starts under way to register their children (milliseconds, normally)


def _not_tracked(found: list[tuple[int, tuple[bytes, int, int]]], groups: bool = True
                 ) -> list[tuple[int, tuple[bytes, int, int]]]:
    """Those of `found` (pid, stat) that are not the launcher's own children by its tracked groups
    (nor, with `groups`, in one of those groups), read after `found` was. A child started by the
    launcher and not tracked yet was forked by a start under way now: those starts (only those,
    not the ones begun later) are waited for first, briefly; if one takes longer, the rest are
    left to the caller (who then asks `process.own_children`, a look at every Python object)."""
    pending = process.starts_in_flight()
    if found and pending:
        process.wait_for_starts(pending, _STARTING_WAIT_S)
    tracked = process.tracked_groups()
    return [(pid, stat) for pid, stat in found if pid not in tracked and not (groups and stat[2] in tracked)]


def proc_environ(pid: int) -> set[bytes]:
    try:
        return set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
    except OSError:
        return set()


def escaped(run_id: str, task_id: str | None = None) -> list[int]:
    """Our re-parented children carrying this run's (and task's) variables, and those carrying
    no variable of this run at all (an environment cleared or rewritten): never one another task
    of the run is marked with (it is that task's, reaped after its round), nor one of the
    launcher's own children or a process in one of their groups."""
    return _escaped(run_id, [task_id] if task_id is not None else None).get(task_id, [])


def _escaped(run_id: str, task_ids: list[str] | None) -> dict[str | None, list[int]]:
    """`escaped` for several tasks of a run at once (None: the whole run): each task's marked
    processes, and the unmarked ones under the first task."""
    me = os.getpid()
    run = f"LAUNCHER_RUN_ID={run_id}".encode()
    marks = {None: run} if task_ids is None else {t: f"LAUNCHER_TASK_ID={t}".encode() for t in task_ids}
    first = next(iter(marks))
    # The run-wide sweep (the run's end) reads every process: the kernel's list of children
    # may miss one that changes parent while it is read. A task's sweep after each round
    # reads the list; what it missed, the next sweep or the run-wide one finds.
    found = [(pid, stat) for pid in _candidates(every=task_ids is None)
             if (stat := proc_stat(pid)) is not None and stat[1] == me and stat[0] != b"Z"]
    # The launcher's own (and their groups), read after the candidates so that one started in
    # between is among them: never candidates.
    ours = _not_tracked(found)
    marked: list[tuple[str | None, int, tuple[bytes, int, int]]] = []
    unmarked = []
    for pid, stat in ours:
        environ = proc_environ(pid)
        if run in environ:
            owners = [t for t, mark in marks.items() if mark in environ]
            if owners:  # (one marked with another task only is that task's, reaped after its round)
                marked.append((owners[0], pid, stat))
        else:
            unmarked.append((first, pid, stat))  # also an own child that exited meanwhile (no environ left)
    seen = {pid: started for _t, pid, _stat in [*marked, *unmarked] if (started := _start_time(pid)) is not None}
    if not seen:
        return {}
    own = _own_children()  # read after the candidates: see the module's docstring
    if own is None:  # a child is being started: only what carries the task's variables is surely not it
        picked = marked
    else:
        picked = [(t, pid, stat) for t, pid, stat in [*marked, *unmarked] if pid not in own and stat[2] not in own]
    alive = set(_still_the_same({pid: seen[pid] for _t, pid, _stat in picked if pid in seen}))
    found_by: dict[str | None, list[int]] = {}
    for owner, pid, _stat in picked:
        if pid in alive:
            found_by.setdefault(owner, []).append(pid)
    return found_by


def _own_children(tries: int = 5) -> set[int] | None:
    """`process.own_children`, asked again while a child is being started (a few milliseconds)."""
    for _ in range(tries):
        own = process.own_children()
        if own is not None:
            return own
        time.sleep(0.02)
    return None


def _candidates(every: bool = False) -> list[int]:
    """Processes that may be our children: unless `every`, the kernel's list of them when it
    keeps one (each thread's `/proc/self/task/<tid>/children`: a handful of entries instead of
    the stat of every process, which cost milliseconds per round on a busy machine)."""
    children = None if every else _children()
    if children is not None:
        return children
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    return [int(entry.name) for entry in proc.iterdir() if entry.name.isdigit()]


def _children() -> list[int] | None:
    """Direct children of this process, from every thread's `children` file; None when the
    kernel does not keep the list (CONFIG_PROC_CHILDREN) or /proc is another namespace's."""
    me = os.getpid()
    try:
        if os.readlink("/proc/self") != str(me) or not os.path.exists(f"/proc/self/task/{me}/children"):
            return None
        threads = os.listdir("/proc/self/task")
    except OSError:
        return None
    found: list[int] = []
    for tid in threads:
        try:
            with open(f"/proc/self/task/{tid}/children", "rb") as fh:
                found += [int(pid) for pid in fh.read().split()]
        except OSError:
            continue  # the thread exited meanwhile
    return found


# One sweep at a time: two tasks' sweeps (threads) would both take the same unmarked daemon, both
# signal it and both count it, and the later one could signal whatever process took its pid.
_SWEEP = threading.Lock()


def reap_escaped(run_id: str, task_id: str | None = None) -> list[int]:
    """SIGKILL and reap the run's (or task's) escaped processes; returns their pids. Repeats:
    a killed daemon's own children are re-parented to us in turn.

    Sweeps are one at a time, and when many tasks' rounds end together (a fan-out) each waited
    for every sweep before it. So the tasks' requests that arrive while a sweep runs are served
    together by the next one: it starts after each of them was made (it sees what their rounds
    left) and reports to each task what carried its variables (the unmarked to the first)."""
    if task_id is None:
        return _sweep(lambda: escaped(run_id, None))
    with _WAITING_LOCK:
        batch = _WAITING.setdefault(run_id, _Batch())
        batch.requests.setdefault(task_id, [])
    with _SWEEP:
        with _WAITING_LOCK:
            if _WAITING.get(run_id) is batch:
                del _WAITING[run_id]  # served now: later requests wait for the next sweep
        if not batch.served:
            _serve(run_id, batch)
    if batch.error is not None:
        raise batch.error
    return batch.requests[task_id]


@dataclass
class _Batch:
    requests: dict[str, list[int]] = field(default_factory=dict)  # task -> pids killed for it
    served: bool = False
    error: BaseException | None = None  # what stopped the sweep, raised to every request it served


_WAITING: dict[str, _Batch] = {}  # run -> the requests the next sweep serves
_WAITING_LOCK = threading.Lock()


def _serve(run_id: str, batch: _Batch) -> None:
    """One sweep for every request of `batch` (the caller holds `_SWEEP`)."""
    try:
        reap_orphan_zombies()
        for _ in range(5):
            found = _escaped(run_id, list(batch.requests))
            killed = set(_kill_and_reap([pid for pids in found.values() for pid in pids]))
            if not killed:
                break
            for task_id, pids in found.items():
                if task_id is not None:
                    batch.requests[task_id] += [pid for pid in pids if pid in killed]
    except Exception as exc:
        batch.error = exc
    finally:
        batch.served = True


def _sweep(find: Callable[[], list[int]]) -> list[int]:
    """Collect orphan zombies, then kill and reap what `find` names until it names nothing (a
    killed daemon's children are re-parented to us in turn); one sweep at a time."""
    killed: list[int] = []
    with _SWEEP:
        reap_orphan_zombies()
        for _ in range(5):
            victims = _kill_and_reap(find())
            if not victims:
                break
            killed += victims
    return killed


def marked(env: Mapping[str, str], keep: Collection[int] = ()) -> list[int]:
    """Our re-parented children whose environment has all of `env` (but not the pids in `keep`:
    our own live children carrying it too)."""
    me = os.getpid()
    wanted = {f"{k}={v}".encode() for k, v in env.items()}
    seen = {pid: live[0] for pid in _candidates() if pid not in keep and (live := _live(pid)) is not None
            and live[1] == me and wanted <= proc_environ(pid)}
    return _still_the_same(seen)


def reap_marked(env: Mapping[str, str], keep: Collection[int] = ()) -> list[int]:
    """SIGKILL and reap the escaped processes marked with `env` (a mutation sweep's worker: what
    its finished test runs left behind, a `setsid` server say); returns their pids."""
    return _sweep(lambda: marked(env, keep))


def _kill_and_reap(victims: list[int]) -> list[int]:
    """SIGKILL and reap `victims`; those the signal reached (not those already gone)."""
    killed = []
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    deadline = time.monotonic() + _REAP_WAIT_S
    pending = set(killed)
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid  # not (or no longer) ours to wait for
            if done:
                pending.discard(pid)
        if pending:
            time.sleep(0.01)
    return killed
