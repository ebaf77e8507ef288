"""One `mutation judge` per sweep (or calibration set) at a time, and what a killed one left.

The judge's CLI runs with the sweep id as its LAUNCHER_RUN_ID, like a run's agents. A judge
command holds an exclusive `flock` on `<out_dir>/judge.lock` while it runs: the kernel drops it
when the process dies, even by SIGKILL. So a second judge of the same sweep is refused while the
first runs, and the next one to take the lock knows nobody is judging: any process still
carrying the id is a dead command's judge, killed before a new one starts (`launcher clean --all`
does the same for every sweep)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from launcher.engine.orphans import kill_escaped
from launcher.errors import UsageProblem

LOCK_NAME = "judge.lock"


class JudgeBusy(UsageProblem):
    default_key = "judge_busy"


def _try_lock(path: Path) -> int | None:
    """The open, locked file descriptor, or None when another live process holds the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def judging(out_dir: Path, label: str) -> Iterator[list[int]]:
    """Hold the judge lock of `out_dir` while the body runs; yields the pids of a dead judge
    command's processes that were killed first."""
    path = out_dir / LOCK_NAME
    fd = _try_lock(path)
    if fd is None:
        raise JudgeBusy(f"another `launcher mutation judge` is judging {label} now", where=str(path),
                        fix="wait for it to finish (or stop it), then run this again")
    try:
        killed = kill_escaped(label)
        os.ftruncate(fd, 0)
        os.write(fd, f"{label}\n".encode())
        yield killed
    finally:
        os.close(fd)


def reap_dead_judges(root: Path) -> list[str]:
    """For `clean --all`: under `root`, each judge lock nobody holds names an id whose processes
    are a killed judge command's; kill them. Returns what was done, one line each."""
    done: list[str] = []
    for path in sorted(root.glob(f"**/{LOCK_NAME}")) if root.is_dir() else []:
        fd = _try_lock(path)
        if fd is None:
            continue  # a judge runs now
        try:
            label = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
            if label and (killed := kill_escaped(label)):
                done.append(f"killed {len(killed)} process(es) of a killed judge of {label}")
        finally:
            os.close(fd)
    return done


@dataclass
class Judges:
    """The judges of a repository's sweeps and calibration sets, as `judges_held` found them."""

    idle: dict[str, Path] = field(default_factory=dict)  # label -> its out_dir; nobody judges it now
    busy: set[str] = field(default_factory=set)  # labels a live judge command holds


@contextlib.contextmanager
def judges_held(roots: list[Path]) -> Iterator[Judges]:
    """Every judge lock under `roots`: those nobody holds are held by this process for the body's
    time (no judge of them starts meanwhile), and their labels given with their out_dirs; the
    labels of the judges running now are given as busy (a lock held elsewhere is only read)."""
    judges, held = Judges(), []
    try:
        for root in roots:
            for path in sorted(root.glob(f"**/{LOCK_NAME}")) if root.is_dir() else []:
                fd = _try_lock(path)
                if fd is None:
                    with contextlib.suppress(OSError):
                        judges.busy.add(path.read_text(encoding="utf-8", errors="replace").strip())
                    continue
                held.append(fd)
                if label := os.pread(fd, 512, 0).decode("utf-8", "replace").strip():
                    judges.idle[label] = path.parent
        yield judges
    finally:
        for fd in held:
            os.close(fd)
