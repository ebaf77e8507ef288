"""A process named by its pid *and* its start time: a launcher killed long ago whose pid the
kernel has since given to another process is not taken for a live launcher."""

from __future__ import annotations

import itertools
from pathlib import Path

from launcher.process import pid_alive


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state first); None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22); None when
    the system does not say (no /proc) or the process is gone."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    try:
        return int(fields[19])
    except ValueError:
        return None


def alive(pid: int, started: int | None) -> bool:
    """Whether the process `pid` that started at `started` still runs: not gone, not a zombie
    (a killed launcher its parent has not collected yet), not a newer process with its pid."""
    if pid <= 0 or not pid_alive(pid):
        return False
    fields = _stat_fields(pid)
    if fields is None:  # gone since, or no /proc: then the pid is all there is to go by
        return not Path("/proc/self/stat").exists()
    if fields and fields[0] in (b"Z", b"X"):
        return False
    return started is None or start_time(pid) in (None, started)


def stopped(pid: int) -> bool:
    """Whether the process is stopped (Ctrl-Z, SIGSTOP, a debugger): it holds what it holds but
    acts on nothing, not even SIGTERM, until it is continued (SIGCONT)."""
    fields = _stat_fields(pid)
    return fields is not None and bool(fields) and fields[0] in (b"T", b"t")


def stop_advice(pid: int) -> str:
    """How to get a launcher out of the way: for a stopped one, `kill` alone does nothing."""
    if stopped(pid):
        return (f"it is stopped (suspended, e.g. by Ctrl-Z): continue it with `fg` in its terminal or "
                f"`kill -CONT {pid}`, or end it with `kill {pid}; kill -CONT {pid}`")
    return f"stop it (kill {pid})"


def is_launcher(pid: int) -> bool:
    """Whether the process `pid` runs launcher (`launcher ...`, `python -m launcher[.cli.main] ...`): what a
    claim recorded without a start time (by an older launcher) is checked against, so an
    unrelated process that got the pid is not taken for the run's launcher. True without /proc."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return not Path("/proc/self/cmdline").exists()
    names = [Path(a.decode(errors="replace")).name for a in argv[:3]]
    return "launcher" in names or any(a == b"-m" and b.split(b".")[0] == b"launcher"
                                                       for a, b in itertools.pairwise(argv))


def launcher_alive(pid: int, started: int | None) -> bool:
    """Whether a recorded launcher still runs: its pid *and* start time; a record without a start
    time (an older launcher's) names one only while that pid runs launcher: a pid alone must not
    hold anything for whatever process the kernel gave it to since."""
    return alive(pid, started) and (started is not None or is_launcher(pid))
