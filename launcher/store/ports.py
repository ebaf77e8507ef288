"""Port blocks per machine: two runs at once (of one repository or of two) never share a block.

A task's block (`LAUNCHER_PORT_BASE` .. +block-1) is claimed in one registry per machine,
`$XDG_CACHE_HOME/launcher/ports.json`, under an `fcntl` lock. A claim names its run, task and
the launcher process holding it; a claim whose process is gone is free again, except that the
same run and task (a resumed run) gets its own block back. Of the claims whose process is gone,
only the `KEEP_DEAD` newest are kept: every run leaves its claims behind, and a registry grown to
every block would be read, checked and rewritten (with fsync) on each claim of every task.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from launcher import process_identity
from launcher.errors import EnvironmentProblem
from launcher.models.decoding import json_loads
from launcher.store.files import atomic_write_text

PORT_START = 20000
PORT_BLOCK = 20
PORT_END = 60000  # below the usual ephemeral range (Linux: 32768+ is shared; blocks are claimed)
KEEP_DEAD = 256  # claims of launchers that are gone, newest first, kept for a resumed run


def registry_path() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return base / "launcher" / "ports.json"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json_loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # damaged: a fresh claim file (JSONDecodeError is a ValueError)
        return {}
    if not isinstance(data, dict):
        return {}
    return {block: claim for block, claim in data.items() if isinstance(claim, dict)}


def _free_block(claims: dict[str, dict[str, Any]]) -> int | None:
    """A block nobody claimed, else one whose claimant process is gone (kept until needed, so a
    resumed run finds its own blocks)."""
    blocks = range(PORT_START, PORT_END, PORT_BLOCK)
    unclaimed = next((b for b in blocks if str(b) not in claims), None)
    if unclaimed is not None:
        return unclaimed

    return next((b for b in blocks if not _claimant_alive(claims[str(b)])), None)


def _claimant_alive(claim: dict[str, Any]) -> bool:
    """Whether the launcher that claimed a block still runs: its pid is alive and, when the claim
    records its start time (`started`; not in an older launcher's), that process started then
    (not a later one the kernel gave the pid of a killed launcher)."""
    pid, started = claim.get("pid"), claim.get("started")
    return isinstance(pid, int) and process_identity.alive(pid, started if isinstance(started, int) else None)


def unwritable(path: Path, why: str, *, then: str = "") -> EnvironmentProblem:
    """The registry at `path` cannot be written (`why`): the fix names the cache directory
    (and `then`, what to run after it)."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    return EnvironmentProblem(
        f"the port registry {path} cannot be written: {why}",
        where="XDG_CACHE_HOME" if cache and os.path.isabs(cache) else "HOME", error_key="port_registry_unwritable",
        fix=f"make {path.parents[1]} a directory you can write to, or point XDG_CACHE_HOME at one "
            f"(`export XDG_CACHE_HOME=/path/you/can/write`){then}",
    )


def claim_block(run_id: str, task_id: str, *, path: Path | None = None) -> int:
    """The first port of the block this task holds (the one it held before, on resume)."""
    path = path or registry_path()
    try:
        return _claim(path, run_id, task_id)
    except OSError as exc:  # checked up front where a command surely needs it; here a clear error
        raise unwritable(path, exc.strerror or str(exc), then=", then `launcher resume`") from None


def _claim(path: Path, run_id: str, task_id: str) -> int:
    me = os.getpid()
    with _locked(path):
        claims = _read(path)
        base = next((int(b) for b, c in claims.items()
                     if c.get("run") == run_id and c.get("task") == task_id), None)
        if base is None:
            base = _free_block(claims)
            if base is None:
                raise EnvironmentProblem(
                    f"no free port block in {PORT_START}-{PORT_END} (registry {path})",
                    fix="let other launcher runs finish, or delete the registry if none is running")
        claims[str(base)] = {"run": run_id, "task": task_id, "pid": me, "started": process_identity.start_time(me),
                             "at": time.time()}  # fmt: skip
        atomic_write_text(path, json.dumps(_without_old_dead(claims), sort_keys=True))
    return base


def _without_old_dead(claims: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`claims` minus the claims of launchers that are gone, beyond the KEEP_DEAD newest."""
    def at(item: tuple[str, dict[str, Any]]) -> float:
        value = item[1].get("at")
        return float(value) if isinstance(value, (int, float)) else 0.0

    dead = sorted(((b, c) for b, c in claims.items() if not _claimant_alive(c)), key=at, reverse=True)
    dropped = {b for b, _c in dead[KEEP_DEAD:]}
    return {b: c for b, c in claims.items() if b not in dropped}
