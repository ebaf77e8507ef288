"""The main checkout's index entries: content an agent staged there, found and put back.

Every worktree reaches the main checkout's index (`GIT_INDEX_FILE=<common>/index git
update-index --cacheinfo ...`): an entry can then hold content the main checkout's file never
had, its work-tree file untouched, so a check by the file's ctime does not see it, and the user,
told of "local changes", would commit it. The entries (`git ls-files --stage`) are recorded, and
re-read when the index file's stat changed. A changed entry is the user's own staging, left as it
is, when it follows HEAD (the user's commit, the landing), holds what git stores for its
work-tree file (`git hash-object` with git's conversions, autocrlf, `ident`, an encoding, and the
run start's content filters: a `git add`, also of an LFS file), is an intent-to-add (`git add
-N`: the empty blob) or is gone (`git rm --cached`: nothing foreign can be committed from it).
Otherwise it holds content that is neither HEAD's nor the file's:
- `foreign`: it has lines in neither of them (`update-index --cacheinfo` of new content): put
  back, and blamed;
- `unsure`: only lines of HEAD's and the file's (a partial `git add -p`), or it could not be
  compared: left as it is (when in doubt the user's index is not undone) and named, so that no
  message tells the user to commit it unseen.
Conflicted entries (stages 1-3: the user's merge in progress) are left alone.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from launcher.errors import LauncherError
from launcher.git import filters, path_lists
from launcher.git.repo import GitRepo

Entries = dict[str, str]  # path -> "mode oid stage" (several, `;`-joined, for a conflicted path)
_MAX_HASHED = 64 * 1024 * 1024  # a larger work-tree file is not compared
_BATCH = 200  # paths per `git hash-object`
_BLOB_MODES = ("100644", "100755")
_EMPTY_BLOBS = frozenset({"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
                          "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813"})


@dataclass
class StagedEntries:
    """The index entries last seen, and the index file's stat when they were read."""

    entries: Entries = field(default_factory=dict)
    seen: tuple[int, int, int, int] | None = None
    unsure: Entries = field(default_factory=dict)  # `Judged.unsure` entries left, as judged

    def still_unsure(self) -> frozenset[str]:
        """The unsure entries the index still holds as they were judged."""
        return frozenset(path for path, entry in self.unsure.items() if self.entries.get(path) == entry)


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


def _blob_id(data: bytes, oid: str) -> str:
    hasher = hashlib.sha256() if len(oid) == 64 else hashlib.sha1()
    hasher.update(b"blob %d\0" % len(data) + data)
    return hasher.hexdigest()


def _work_tree_bytes(path: Path, mode: str) -> bytes | None:
    """The work-tree file's raw bytes (a symlink's target for mode 120000); b"" when it is gone;
    None when they cannot be compared (a directory, a symlink where a file is staged, too large)."""
    try:
        if mode == "120000":
            return os.fsencode(os.readlink(path)) if path.is_symlink() else None
        if not os.path.lexists(path):
            return b""
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _MAX_HASHED:
            return None
        return path.read_bytes()
    except OSError:
        return None


async def _filtered_ids(repo: GitRepo, paths: list[str]) -> dict[str, str]:
    """path -> the blob git stores for its work-tree file (`git hash-object`: git's conversions and
    the run start's content filters, git/filters.py); paths it cannot hash are left out."""
    try:
        env = await filters.pinned_env(repo)
    except LauncherError:
        return {}  # a filter changed since the run started: not comparable
    found: dict[str, str] = {}
    for start in range(0, len(paths), _BATCH):
        batch = paths[start : start + _BATCH]
        done = await repo.git("hash-object", "--", *batch, check=False, env=env)
        ids = done.out.split()
        if done.ok and len(ids) == len(batch):
            found.update(zip(batch, ids, strict=True))
    return found


def _lines(data: bytes) -> set[bytes]:
    return {line.rstrip(b"\r") for line in data.split(b"\n")}


async def _blob(repo: GitRepo, spec: str) -> bytes | None:
    done = await repo.git("cat-file", "blob", spec, check=False)
    return done.stdout if done.ok and not done.stdout_dropped else None


@dataclass(frozen=True)
class Judged:
    """Changed entries holding content that is neither HEAD's nor the work-tree file's."""

    foreign: list[str] = field(default_factory=list)  # with lines of their own: put back
    unsure: list[str] = field(default_factory=list)  # a partial staging's shape, or not comparable: left


async def judge(repo: GitRepo, before: Entries, now: Entries) -> Judged:
    """The entries that changed from `before` to `now` to content neither HEAD nor the work tree
    holds (see the module's docstring): `foreign` ones, and `unsure` ones."""
    changed = [path for path in before.keys() | now.keys() if before.get(path) != now.get(path)
               and ";" not in before.get(path, "") + now.get(path, "")
               and not before.get(path, "0 0 0").endswith(("1", "2", "3"))
               and not now.get(path, "0 0 0").endswith(("1", "2", "3"))]
    if not changed:
        return Judged()
    off_head = await _differ_from_head(repo)
    differ: dict[str, tuple[str, bytes | None]] = {}  # path -> (staged oid, work-tree bytes)
    for path in sorted(changed):
        entry = now.get(path)
        if path not in off_head or entry is None:
            continue  # the index follows HEAD there, or the entry is gone (`git rm --cached`)
        mode, oid, _stage = entry.split(" ")
        if mode == "160000":
            continue  # a submodule's commit: staged from its own checkout
        if oid in _EMPTY_BLOBS and path not in before:
            continue  # `git add -N`: intent to add
        data = _work_tree_bytes(repo.root / path, mode)
        if data is None or _blob_id(data, oid) != oid:
            differ[path] = (oid, data)
    regular = [path for path, (_oid, data) in differ.items() if data and now[path].startswith(_BLOB_MODES)]
    filtered = await _filtered_ids(repo, regular) if regular else {}
    judged = Judged()
    for path, (oid, data) in differ.items():
        if path in regular and path not in filtered:
            judged.unsure.append(path)  # git could not hash the file: not comparable
        elif filtered.get(path) == oid:
            continue  # a `git add` through git's conversions or a run-start filter
        elif data is None or (staged := await _blob(repo, oid)) is None:
            judged.unsure.append(path)
        else:
            known = _lines(data) | _lines(await _blob(repo, f"HEAD:{path}") or b"")
            (judged.unsure if _lines(staged) <= known else judged.foreign).append(path)
    return judged


async def put_back(repo: GitRepo, before: Entries, paths: list[str]) -> None:
    """Set the entries of `paths` as they were in `before` (caller holds the repository lock)."""
    records: list[str] = []  # `--index-info` lines: any number of paths, read from stdin
    for path in paths:
        if path in before:
            mode, oid, _stage = before[path].split(" ")
            records.append(f"{mode} {oid} 0\t{path}")  # as `--cacheinfo`: stage 0
        else:
            records.append(f"0 {'0' * 40}\t{path}")  # mode 0: the entry is removed
    if records:
        await path_lists.git_reading(repo, "update-index", "-z", "--index-info", lines=records, nul=True)
