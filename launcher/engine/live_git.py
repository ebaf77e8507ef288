"""The user's own git at work in the main checkout right now (Linux: read from /proc).

While the user's `git pull --rebase` runs (a post-checkout hook of theirs can make it last
seconds), the main checkout's git dir holds `rebase-merge/` and its HEAD is detached: exactly
what an agent's plant looks like once its git has exited. The guards (app/run/containment.py,
app/run/ref_watch.py, app/run/git_watch.py) ask here before they put such state back or blame
anyone for it: a live git process of the user's leaves it alone until the next check.

A process counts when its command is git (`git`, `git-*`), it is not the launcher's (not a
descendant of this process: escaped agent processes are re-parented to it, engine/reaper.py; not
in a process group the launcher started; no LAUNCHER_RUN_ID in its environment: any run's agent
or check), and it works on the repository: its working directory is inside the main checkout
(not under the launcher's own directories there) or inside the git dir, its GIT_DIR names the
git dir, or it holds one of the git dir's lock files open (`index.lock`, `HEAD.lock`,
`refs/heads/main.lock`: git keeps a lock open until it commits or drops it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from launcher import process

_PROC = Path("/proc")
_RUN_MARK = b"LAUNCHER_RUN_ID="


@dataclass(frozen=True)
class LiveGit:
    pid: int
    command: str  # its command line, as `ps` shows it

    def describe(self) -> str:
        return f"pid {self.pid}: {self.command[:80]}"


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, process group) from /proc/<pid>/stat."""
    try:
        stat = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) < 3 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1]), int(fields[2])


def _is_git(pid: int) -> bool:
    try:
        comm = (_PROC / str(pid) / "comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return False
    return comm == "git" or comm.startswith("git-")


def _launchers(pid: int, me: int, groups: set[int]) -> bool:
    """Whether the process is the launcher's own: its descendant, in a group it started, or
    carrying a run's variables (an agent's or a check's, of this run or another)."""
    at, seen = pid, 0
    while at > 1 and seen < 64:
        if at == me:
            return True
        stat = _stat(at)
        if stat is None:
            break
        if stat[1] in groups:
            return True
        at, seen = stat[0], seen + 1
    with contextlib.suppress(OSError):
        if any(item.startswith(_RUN_MARK) for item in (_PROC / str(pid) / "environ").read_bytes().split(b"\0")):
            return True
    return False


def _inside(path: Path, places: Sequence[Path]) -> bool:
    return any(path == place or place in path.parents for place in places)


def _git_dir_var(pid: int, cwd: Path | None) -> Path | None:
    with contextlib.suppress(OSError):
        for item in (_PROC / str(pid) / "environ").read_bytes().split(b"\0"):
            if item.startswith(b"GIT_DIR="):
                named = Path(os.fsdecode(item[len(b"GIT_DIR=") :]))
                return Path(os.path.normpath(cwd / named)) if cwd is not None and not named.is_absolute() else named
    return None


def _holds_lock(pid: int, git_dirs: Sequence[Path]) -> bool:
    with contextlib.suppress(OSError):
        for fd in (_PROC / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                target = Path(os.readlink(fd))
                if target.name.endswith(".lock") and _inside(target, git_dirs):
                    return True
    return False


def _works_on(pid: int, checkout: Path, git_dirs: Sequence[Path], skip: Sequence[Path]) -> bool:
    cwd: Path | None = None
    with contextlib.suppress(OSError):
        cwd = Path(os.readlink(_PROC / str(pid) / "cwd"))
    if cwd is not None and (_inside(cwd, git_dirs) or (_inside(cwd, [checkout]) and not _inside(cwd, skip))):
        return True
    named = _git_dir_var(pid, cwd)
    if named is not None and _inside(named, git_dirs):
        return True
    return _holds_lock(pid, git_dirs)


def _command(pid: int) -> str:
    try:
        argv = (_PROC / str(pid) / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return "git"
    return " ".join(os.fsdecode(arg) for arg in argv) or "git"


def find(checkout: Path, git_dirs: Sequence[Path], skip: Sequence[Path] = ()) -> list[LiveGit]:
    """The user's git processes working on the repository now: `checkout`, the main work tree;
    `git_dirs`, its git dir and the common one; `skip`, directories in the checkout that are the
    launcher's (its state dir, its worktrees). Empty where /proc cannot be read."""
    if not _PROC.is_dir():
        return []
    resolved = [Path(os.path.realpath(p)) for p in git_dirs]
    root = Path(os.path.realpath(checkout))
    skipped = [Path(os.path.realpath(p)) for p in skip]
    me, groups = os.getpid(), process.tracked_groups()
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == me or not _is_git(pid) or _stat(pid) is None:
            continue
        if _works_on(pid, root, resolved, skipped) and not _launchers(pid, me, groups):
            found.append(LiveGit(pid, _command(pid)))
    return found
