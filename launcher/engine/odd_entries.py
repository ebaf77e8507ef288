"""What `git status` never lists in the main checkout: special files (a FIFO, a socket, a device
node) and empty directories. An agent can make them there all the same, and a FIFO left in a
work tree hangs whatever opens it for reading (`grep -r`, an editor's indexer, a backup).

At run start every directory of the main checkout is recorded with its mtime (not the git dir,
ignored directories, tool caches or the launcher's own paths), and the special files and empty
directories already there. A check looks into the directories whose mtime changed, and the new
ones, for special files and empty directories that were not there: those are intrusions, put
back by `engine/main_restore.py` (a special file moved aside without being opened, an empty
directory removed). Nothing is opened, only listed and stat'ed. What git ignores is not looked
for (`not_ignored`): as for files, builds and tools make such entries legitimately (a dev
server's `app.sock`, a build's empty `out/`)."""

from __future__ import annotations

import codecs
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from launcher.git.repo import GitRepo

MAX_DIRS = 50_000  # a tree with more directories is watched this far (a vendored tree, say)


@dataclass
class OddEntries:
    root: Path
    skip: frozenset[str]  # directories not looked into (relative, no trailing slash)
    skip_names: frozenset[str] = frozenset()  # ... and by name, anywhere (tool caches)
    dirs: dict[str, int] = field(default_factory=dict)  # directory -> st_mtime_ns ("" the root)
    present: set[str] = field(default_factory=set)  # special files and empty dirs there at start
    partial: bool = False  # the walk stopped at MAX_DIRS: deeper directories are not watched


def _rel(root: Path, path: str) -> str:
    rel = os.path.relpath(path, root)
    return "" if rel == "." else rel.replace(os.sep, "/")


def _odd(entry: os.DirEntry[str]) -> str | None:
    """'special' for a FIFO, socket or device; 'dir' for a directory; None otherwise. The
    directory entry's own type answers (no system call); a file system that does not report
    types is asked with an lstat, as `os.DirEntry` does then."""
    try:
        if entry.is_dir(follow_symlinks=False):
            return "dir"
        if entry.is_file(follow_symlinks=False) or entry.is_symlink():
            return None
        mode = entry.stat(follow_symlinks=False).st_mode  # gone meanwhile: OSError
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return None
    return "special"


def empty(path: str) -> bool:
    """A directory holding nothing, or only directories that hold nothing."""
    try:
        with os.scandir(path) as entries:
            return all(e.is_dir(follow_symlinks=False) and empty(e.path) for e in entries)
    except OSError:
        return False


def _odd_children(folder: str, rel: str) -> list[tuple[os.DirEntry[str], str, str]] | None:
    """A directory's entries that are special files or directories: (entry, kind, its path from
    the root, `rel` being the directory's); None when the directory cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            return [(entry, kind, f"{rel}/{entry.name}" if rel else entry.name)
                    for entry in entries if (kind := _odd(entry)) is not None]
    except OSError:
        return None


def _walk(snapshot: OddEntries) -> dict[str, list[tuple[str, str]]]:
    """Each directory (not skipped) -> its (name, kind) entries that are special files or dirs;
    at most MAX_DIRS of them (`snapshot.partial` says when more were left)."""
    found: dict[str, list[tuple[str, str]]] = {}
    stack = [str(snapshot.root)]
    while stack and len(found) < MAX_DIRS:
        folder = stack.pop()
        rel = _rel(snapshot.root, folder)
        listed = _odd_children(folder, rel)
        if listed is None:
            continue
        kids: list[tuple[str, str]] = []
        for entry, kind, child in listed:
            if kind == "dir" and _skipped(snapshot, child, entry.name):
                continue
            kids.append((entry.name, kind))
            if kind == "dir":
                stack.append(entry.path)
        found[rel] = kids
    snapshot.partial = bool(stack)
    return found


def _skipped(snapshot: OddEntries, rel: str, name: str) -> bool:
    return name == ".git" or name in snapshot.skip_names or rel in snapshot.skip


def _mtime(path: Path) -> int | None:
    try:
        return path.lstat().st_mtime_ns
    except OSError:
        return None


def take(root: Path, skip: list[str], skip_names: frozenset[str] = frozenset()) -> OddEntries:
    """Record the main checkout's directories and what odd entries are there already."""
    snapshot = OddEntries(root, frozenset(s.rstrip("/") for s in skip), skip_names)
    for rel, kids in _walk(snapshot).items():
        mtime = _mtime(root / rel)
        if mtime is not None:
            snapshot.dirs[rel] = mtime
        for name, kind in kids:
            child = f"{rel}/{name}" if rel else name
            if kind == "special" or empty(str(root / child)):
                snapshot.present.add(child)
    return snapshot


def special_files(root: Path) -> list[str]:
    """The special files anywhere under `root`, and the directories named `.git` below it (git
    never lists nor cleans a path through one, so what is in it would outlive `git clean -ffdx`;
    a worktree's own `.git` and a submodule's are files), relative to it and sorted; at most
    MAX_DIRS directories are looked into. No empty-directory test, no mtime: a pool worktree's
    check (`app/run/pool.py`) needs only these, for each take and each recycle."""
    found: list[str] = []
    stack: list[tuple[str, str]] = [(str(root), "")]
    looked = 0
    while stack and looked < MAX_DIRS:
        folder, rel = stack.pop()
        looked += 1
        for entry, kind, child in _odd_children(folder, rel) or []:
            if kind == "special" or entry.name == ".git":
                found.append(child)
            else:
                stack.append((entry.path, child))
    return sorted(found)


def new_since(snapshot: OddEntries) -> list[str]:
    """Special files and empty directories made since the snapshot (an empty directory made
    inside another new one is named once, by its top). A directory whose mtime did not change
    gained no entry: one lstat each; only the changed ones, and the new directories in them, are
    listed."""
    found: list[str] = []

    def look_into(rel: str, new: bool) -> None:
        try:
            with os.scandir(snapshot.root / rel if rel else snapshot.root) as entries:
                listed = list(entries)
        except OSError:
            return
        for entry in listed:
            child = f"{rel}/{entry.name}" if rel else entry.name
            kind = _odd(entry)
            if kind is None or (kind == "dir" and _skipped(snapshot, child, entry.name)):
                continue
            if not new and (child in snapshot.present or child in snapshot.dirs):
                continue
            if kind == "special" or empty(entry.path):
                found.append(child)
            else:  # a new directory holding files (git lists those): what else is in it?
                look_into(child, True)

    for rel, mtime in list(snapshot.dirs.items()):
        if _mtime(snapshot.root / rel) != mtime:
            look_into(rel, False)
    return sorted(found)


def _unquote(path: str) -> str:
    """git C-quotes a path holding a quote, a backslash or a control character."""
    if path.startswith('"') and path.endswith('"'):
        return os.fsdecode(bytes(codecs.escape_decode(os.fsencode(path[1:-1]))[0]))
    return path


async def not_ignored(repo: GitRepo, paths: list[str]) -> list[str]:
    """Those of `paths` that git does not ignore (the .gitignore and exclude rules `git status`
    applies to the main checkout's files). When git cannot tell, all of them."""
    ignored: set[str] = set()
    for start in range(0, len(paths), 1000):
        # "./": a name like ":(glob)x" is a path, not pathspec magic (check-ignore has no
        # --literal-pathspecs); git answers with the path as given.
        done = await repo.git("-c", "core.quotePath=false", "check-ignore", "--",
                              *(f"./{path}" for path in paths[start:start + 1000]), check=False)
        if done.returncode not in (0, 1):
            return paths
        ignored.update(_unquote(line).removeprefix("./") for line in done.out.splitlines())
    return [path for path in paths if path not in ignored]


def partial_note(snapshot: OddEntries) -> str | None:
    """What the user must know when the watch does not cover the whole main checkout."""
    if not snapshot.partial:
        return None
    return (f"the main checkout has more than {MAX_DIRS:,} directories: special files (a FIFO, a socket) "
            f"and empty directories an agent makes there are looked for only in the first {MAX_DIRS:,} "
            "of them; in the others they are not found (changed files are, as everywhere)")


def forget(snapshot: OddEntries, rel: str) -> None:
    """A path put back (moved aside, removed): the directory that held it changed, by the
    launcher; take its new mtime."""
    parent = rel.rpartition("/")[0]
    mtime = _mtime(snapshot.root / parent)
    if parent in snapshot.dirs and mtime is not None:
        snapshot.dirs[parent] = mtime


__all__ = ["OddEntries", "empty", "forget", "new_since", "not_ignored", "partial_note", "special_files", "take"]
