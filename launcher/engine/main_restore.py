"""Putting back what an agent changed in the main checkout, exactly, or saying why not.

Nothing is deleted: the agent's version of every file is first moved aside into the task's
artifacts (`.launcher/runs/<run>/<task>/intrusions/<path>`). Then:
- a file that was clean and tracked at run start gets its committed content back (index and
  file, `git checkout HEAD -- path`);
- a dirty or untracked file gets the content stored at run start (engine/tree_guard.py keeps
  those as blobs) and its mode;
- a new file (not tracked, absent at run start) just stays moved aside (out of the index too,
  if the agent added it there);
- an ignored file such as `.env` gets the content kept in memory at run start (small ones, within
  a budget; never stored as git objects);
- a new special file (a FIFO, a socket: git does not list them; engine/odd_entries.py finds them)
  is moved aside without being opened, and a new empty directory is removed;
- anything else (a file over those budgets) is left as the agent made it, and reported as such.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path

from launcher.engine.odd_entries import OddEntries, empty, forget
from launcher.engine.tree_guard import MainTreeSnapshot, refresh
from launcher.git.repo import GitRepo


@dataclass
class PutBack:
    described: list[str] = field(default_factory=list)  # one line per path, for the task message
    left: list[str] = field(default_factory=list)  # paths still as the agent left them


def _aside(root: Path, rel: str, aside_dir: Path) -> Path | None:
    """Move the agent's version of `rel` into `aside_dir` (never overwriting); its new path."""
    path = root / rel
    if not (path.exists() or path.is_symlink()) or (path.is_dir() and not path.is_symlink()):
        return None
    target, n = aside_dir / rel, 1
    while target.exists() or target.is_symlink():
        n += 1
        target = aside_dir / f"{rel}.{n}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return target


move_aside = _aside  # for the integration check's put-back of what changed since the run's start


def bounded_copy(path: Path, mode: int, size: int, limit: int) -> bytes | None:
    """What a regular file of at most `limit` bytes holds, to put back later (None: not one, or
    unreadable: the caller cannot vouch for an older copy of it)."""
    if not stat.S_ISREG(mode) or size > limit:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def restore_copy(root: Path, rel: str, data: bytes | None, mode: int, aside_dir: Path, *, moment: str,
                 found: str) -> str:
    """Put `rel` back to `data` (None: it was not there) as it was `moment`, the version found
    moved aside first (`found`: what the note calls it); a directory found in its place
    that is empty once its files were moved aside is removed. The note's text; OSError: left."""
    path = root / rel
    if path.is_dir() and not path.is_symlink():
        with contextlib.suppress(OSError):  # emptied (its files moved aside first): the file goes back
            path.rmdir()
        if path.is_dir():
            raise OSError(f"{rel} is now a directory")
    moved = _aside(root, rel, aside_dir)
    where = f"; {found} moved to {relative(moved, root)}" if moved else ""
    if data is None:
        return f"not there {moment}{where}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with contextlib.suppress(OSError):
        os.chmod(path, mode)
    return f"put back as it was {moment}{where}"


async def _tracked_at_head(repo: GitRepo, rel: str) -> bool:
    done = await repo.git("--literal-pathspecs", "ls-tree", "--name-only", "-z", "HEAD", "--", rel,
                          check=False)
    return done.ok and rel in done.out.split("\0")


async def _in_index(repo: GitRepo, rel: str) -> bool:
    done = await repo.git("--literal-pathspecs", "ls-files", "-z", "--cached", "--", rel, check=False)
    return done.ok and rel in done.out.split("\0")


async def put_back(repo: GitRepo, snapshot: MainTreeSnapshot | None, listed_at_start: set[str],
                   paths: list[str], aside_dir: Path, writer: str = "the agent") -> PutBack:
    """Restore `paths` of the main checkout (caller holds the repository lock); `writer` names
    who wrote them in what is said (the agent, or the task's grader)."""
    result = PutBack()
    # Deepest first: a tracked file the agent replaced by a directory (`Makefile/inner`) has that
    # directory's files moved aside before the file is checked out again over it.
    for rel in sorted(paths, key=lambda rel: (-rel.count("/"), rel)):
        try:
            how = await _put_back_one(repo, snapshot, listed_at_start, rel, aside_dir)
        except OSError as exc:
            how = f"left as the agent made it ({exc.strerror or exc})"
        how = how.replace("the agent", writer)
        if how.startswith("left"):
            result.left.append(rel)
        result.described.append(f"{rel} ({how})")
    return result


def _moved(repo: GitRepo, target: Path | None, first: str) -> str:
    if target is None:
        return first
    return f"{first}; the agent's version moved to {relative(target, repo.root)}"


def relative(path: Path, root: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(root))
    return str(path)


def _remove_empty(path: Path) -> None:
    """An empty directory, and the empty directories in it (never one holding anything else)."""
    for entry in path.iterdir():
        _remove_empty(entry)
    path.rmdir()


def _listened_on(path: Path) -> bool:
    """Whether a process still serves the UNIX socket at `path` (a dev server of the user's: moving
    it would cut its clients off). A non-blocking connect, closed at once; refused: nobody."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError as exc:
        return exc.errno in (errno.EAGAIN, errno.EPROTOTYPE)  # a full backlog; a datagram socket
    finally:
        probe.close()
    return True


def _odd_one(root: Path, rel: str, aside_dir: Path, odd: OddEntries | None) -> str | None:
    """Put back a special file (moved aside, never opened: a FIFO would block) or an empty
    directory (removed) that git does not see; None when `rel` is neither."""
    path = root / rel
    try:
        mode = path.lstat().st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        if not empty(str(path)):
            return None
        _remove_empty(path)
        said = "a new empty directory, removed"
    elif stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return None
    else:
        kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device node"
        if kind == "socket" and _listened_on(path):
            return "a new socket a running process listens on, left in place (moving it would cut it off)"
        moved = _aside(root, rel, aside_dir)
        said = f"a new {kind}, moved to {relative(moved, root)}" if moved else f"a {kind}"
    if odd is not None:
        forget(odd, rel)
    return said


async def _put_back_one(repo: GitRepo, snapshot: MainTreeSnapshot | None, listed_at_start: set[str],
                        rel: str, aside_dir: Path) -> str:
    path = repo.root / rel
    watched = snapshot is not None and rel in snapshot.files
    blob = snapshot.blobs.get(rel) if snapshot is not None else None
    if blob is not None and snapshot is not None:
        content = await repo.git("cat-file", "blob", blob, check=False)
        if not content.ok:
            return "left as the agent made it (its earlier content is gone from the object store)"
        moved = _aside(repo.root, rel, aside_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.stdout)
        os.chmod(path, snapshot.modes.get(rel, 0o644))
        refresh(snapshot, rel)
        return _moved(repo, moved, "put back")
    kept = snapshot.ignored.get(rel) if snapshot is not None else None
    if kept is not None and snapshot is not None:
        moved = _aside(repo.root, rel, aside_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(kept)
        os.chmod(path, snapshot.modes.get(rel, 0o644))
        refresh(snapshot, rel)
        return _moved(repo, moved, "put back")
    if watched or rel in listed_at_start:
        return "left as the agent made it (its earlier content was not kept: too big or over the budget)"
    if await _tracked_at_head(repo, rel):
        moved = _aside(repo.root, rel, aside_dir)
        done = await repo.git("--literal-pathspecs", "checkout", "HEAD", "--", rel, check=False)
        if not done.ok:
            return f"left as the agent made it ({done.err.strip()})"
        return _moved(repo, moved, "put back")
    # Only now a special file or an empty directory: a path that held a file at run start
    # (README.md made a directory, emptied once its files were moved aside) got that file back above.
    if (odd := _odd_one(repo.root, rel, aside_dir, snapshot.odd if snapshot else None)) is not None:
        return odd
    if await _in_index(repo, rel):
        await repo.git("--literal-pathspecs", "rm", "-q", "--cached", "--", rel, check=False)
    moved = _aside(repo.root, rel, aside_dir)
    if moved is None:
        return "left as the agent made it (not a file)"
    return f"new, moved to {relative(moved, repo.root)}"
