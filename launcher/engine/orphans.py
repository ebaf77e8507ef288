"""Find and kill agent processes left behind by a launcher that died (kill -9)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def _pgid_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 5 is the pgrp; the command name (field 2) may contain spaces, so split after ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[2]) if len(fields) > 2 else None


def _belongs_to_run(pid: int, run_id: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"LAUNCHER_RUN_ID={run_id}".encode() in environ.split(b"\0")


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
