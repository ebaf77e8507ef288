"""The main checkout's index entries: content an agent staged there, found and put back.

Every worktree reaches the main checkout's index (`GIT_INDEX_FILE=<common>/index git
update-index --cacheinfo ...`): an entry can then hold content the main checkout's file never
had, its work-tree file untouched, so a check by the file's ctime does not see it, and the user,
told of "local changes", would commit it. The entries (`git ls-files --stage`) are recorded, and
re-read when the index file's stat changed; a changed entry is foreign when it holds content that
is neither the HEAD commit's (an index that follows a new HEAD: the user's commit, the landing)
nor its work-tree file's (a `git add` of what is in the work tree, the user's own staging).
Conflicted entries (stages 1-3: the user's merge in progress) are left alone.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from launcher.git.repo import GitRepo

Entries = dict[str, str]  # path -> "mode oid stage" (several, `;`-joined, for a conflicted path)
_MAX_HASHED = 64 * 1024 * 1024  # a larger work-tree file is taken for what was staged


@dataclass
class StagedEntries:
    """The index entries last seen, and the index file's stat when they were read."""

    entries: Entries = field(default_factory=dict)
    seen: tuple[int, int, int, int] | None = None


def index_stat(path: Path) -> tuple[int, int, int, int] | None:
    try:
        info = path.lstat()
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


async def read(repo: GitRepo) -> Entries:
    """The entries of the index of the checkout the launcher runs in."""
    listed = await repo.git("ls-files", "--stage", "-z", check=False)
    entries: Entries = {}
    for record in listed.out.split("\0"):
        info, tab, path = record.partition("\t")
        if tab:
            entries[path] = f"{entries[path]};{info}" if path in entries else info
    return entries


async def _differ_from_head(repo: GitRepo) -> set[str]:
    """Paths whose index entry is not the HEAD commit's (all of them on an unborn branch)."""
    head = await repo.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    if not head.ok:
        return set()
    raw = await repo.git("diff-index", "--cached", "-z", "--no-renames", "HEAD", check=False)
    tokens = raw.out.split("\0")
    return {tokens[index + 1] for index in range(0, len(tokens) - 1, 2) if tokens[index].startswith(":")}


def _blob_id(path: Path, mode: str, oid: str) -> str | None:
    """The blob git would store for the work-tree file (no filters), or None: not comparable."""
    try:
        if mode == "120000":
            data = os.readlink(path).encode("utf-8", "surrogateescape")
        else:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > _MAX_HASHED:
                return None
            data = path.read_bytes()
    except OSError:
        return None
    hasher = hashlib.sha256() if len(oid) == 64 else hashlib.sha1()
    hasher.update(b"blob %d\0" % len(data) + data)
    return hasher.hexdigest()


async def foreign(repo: GitRepo, before: Entries, now: Entries) -> list[str]:
    """Paths whose entry changed from `before` to `now` to content neither HEAD nor the work tree
    holds (a deleted entry whose file is still there counts too)."""
    changed = [path for path in before.keys() | now.keys() if before.get(path) != now.get(path)
               and ";" not in before.get(path, "") + now.get(path, "")
               and not before.get(path, "0 0 0").endswith(("1", "2", "3"))
               and not now.get(path, "0 0 0").endswith(("1", "2", "3"))]
    if not changed:
        return []
    off_head = await _differ_from_head(repo)
    found = []
    for path in sorted(changed):
        if path not in off_head:
            continue  # the index follows HEAD there
        entry = now.get(path)
        if entry is None:
            if os.path.lexists(repo.root / path):
                found.append(path)  # unstaged from the index, its file still there
            continue
        mode, oid, _stage = entry.split(" ")
        if mode == "160000":
            continue  # a submodule's commit: staged from its own checkout
        if _blob_id(repo.root / path, mode, oid) not in (oid, None):
            found.append(path)
    return found


async def put_back(repo: GitRepo, before: Entries, paths: list[str]) -> None:
    """Set the entries of `paths` as they were in `before` (caller holds the repository lock)."""
    args: list[str] = []
    removed: list[str] = []
    for path in paths:
        if path in before:
            mode, oid, _stage = before[path].split(" ")
            args += ["--cacheinfo", mode, oid, path]
        else:
            removed.append(path)
    if args:
        await repo.git("update-index", "--add", *args)
    if removed:
        await repo.git("update-index", "--force-remove", "--", *removed)
