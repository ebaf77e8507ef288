"""Content snapshots of the main checkout, which agents must not write (idle worktrees: idle_trees.py).

Main checkout. `git status` re-hashes tracked files whose stat changed, so a clean tracked file
that an agent edits shows up there (whatever its mtime). What status cannot see is a change to a
file that was already dirty, untracked or ignored (the `.env`): for those, the run start records
content hashes, and each check stats them first (size, mtime, ctime, inode: ctime cannot be
back-dated) and re-hashes only on a stat difference, so a `touch` without a content change is not
an intrusion. Budget: every `.worktreeinclude` file is hashed; other ignored files up to
MAX_IGNORED_FILES, skipping an ignored directory with more than MAX_DIR_FILES files (a `.venv`,
`node_modules`) and tool caches (CACHE_DIRS); a file over MAX_HASH_BYTES, or past
MAX_TOTAL_BYTES, is compared by stat only. New ignored files are not looked for (builds and
caches make them legitimately). Special files and empty directories, which git never lists, are
watched by `engine/odd_entries.py` (its snapshot is part of this one).

So that an agent's change can be put back exactly, the content of dirty and untracked (not
ignored) files is also stored as git blobs at run start (`git hash-object -w`, as `git stash`
does), up to MAX_KEPT_FILES files of at most MAX_KEPT_BYTES each. As `git stash` does, a ref
keeps them reachable, so that a `git gc --prune=now` the user runs meanwhile cannot delete them:
a tree of those blobs at `refs/launcher/_main-snapshot/<pid>-<start>/<tree>`, named after the
launcher process that holds the snapshot (in memory: only that process can use it). It goes
when the command that took it ends, however it ends (`release`, from `containment.release_main`);
one left by a launcher killed outright goes at the next snapshot taken (a run, a resume, a land)
or at `launcher clean` (`drop_ended_snapshots`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from launcher import process_identity, wall_clock
from launcher.engine import ended_snapshots
from launcher.engine.odd_entries import OddEntries, take
from launcher.git import ref_updates
from launcher.git.repo import GitRepo

MAX_IGNORED_FILES = 5000
MAX_DIR_FILES = 1000
MAX_HASH_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_KEPT_FILES = 2000
MAX_KEPT_BYTES = 1024 * 1024
# Ignored files (`.env`, a local config) are kept in memory only (never as git objects: they may
# hold secrets), up to MAX_KEPT_FILES of MAX_KEPT_BYTES each and this much in all.
MAX_KEPT_IGNORED_TOTAL = 32 * 1024 * 1024
# Caches that tools rewrite on their own (a check importing the main tree writes bytecode):
# changes there are not content an agent could smuggle out, and would only be false alarms.
CACHE_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".cache",
                        ".tox", ".nox", ".hypothesis"})
# Where the stored blobs are kept reachable, per launcher process (`_keep_reachable`).
SNAPSHOT_REFS = "refs/launcher/_main-snapshot/"


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    digest: str | None  # None: over the hashing budget, compared by stat only

    def same_stat(self, other: os.stat_result) -> bool:
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode) == (
            other.st_size, other.st_mtime_ns, other.st_ctime_ns, other.st_ino)


@dataclass
class MainTreeSnapshot:
    root: Path
    files: dict[str, FileState] = field(default_factory=dict)
    skipped_dirs: list[str] = field(default_factory=list)  # ignored dirs over MAX_DIR_FILES
    blobs: dict[str, str] = field(default_factory=dict)  # dirty/untracked file -> its git blob
    modes: dict[str, int] = field(default_factory=dict)  # ... and its permission bits
    ignored: dict[str, bytes] = field(default_factory=dict)  # ignored file -> its content (memory only)
    odd: OddEntries | None = None  # special files and empty directories (engine/odd_entries.py)
    keep_ref: str | None = None  # the ref that keeps `blobs` reachable (None: no blobs, or not kept)
    # What a killed launcher's copy held that the files no longer do: written aside, said here
    from_ended: list[str] = field(default_factory=list)


def _digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _state(path: Path, hash_it: bool) -> FileState | None:
    try:
        info = path.lstat()
        if not (path.is_file() or path.is_symlink()):
            return None
        digest = None
        if hash_it and info.st_size <= MAX_HASH_BYTES:
            digest = os.readlink(path) if path.is_symlink() else _digest(path)
    except OSError:
        return None
    return FileState(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, digest)


def _files_under(root: Path, rel_dir: str, limit: int) -> list[str] | None:
    """Files under an ignored directory, or None when it holds more than `limit`."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root / rel_dir):
        dirs[:] = [d for d in dirs
                   if d not in CACHE_DIRS and not os.path.islink(os.path.join(folder, d))]
        for name in files:
            found.append(os.path.relpath(os.path.join(folder, name), root))
            if len(found) > limit:
                return None
    return found


def _parse_status(raw: str) -> list[tuple[str, str]]:
    """(code, path) from `git status --porcelain=v1 -z`; renames carry their source next."""
    tokens = raw.split("\0")
    entries, index = [], 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if len(token) < 4:
            continue
        entries.append((token[:2], token[3:]))
        if token[0] in "RC":
            index += 1
    return entries


def _excluded(rel: str, prefixes: tuple[str, ...]) -> bool:
    if CACHE_DIRS.intersection(rel.rstrip("/").split("/")):
        return True
    return any(rel == p.rstrip("/") or rel.startswith(p.rstrip("/") + "/") for p in prefixes)


async def take_main_snapshot(
    repo: GitRepo, include_paths: list[str], exclude: tuple[str, ...]
) -> MainTreeSnapshot:
    """Hash what `git status` cannot watch by itself: dirty, untracked and ignored files."""
    raw = await repo.git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=matching")
    snapshot = MainTreeSnapshot(repo.root)
    always = [p for p in include_paths if not _excluded(p, exclude)]
    ignored: list[str] = []
    watched: list[str] = []
    for code, rel in _parse_status(raw.out):
        if _excluded(rel, exclude):
            continue
        if code != "!!":
            watched.append(rel)
        elif rel.endswith("/"):
            inside = _files_under(repo.root, rel, MAX_DIR_FILES)
            if inside is None:
                snapshot.skipped_dirs.append(rel)
            else:
                ignored += [p for p in inside if not _excluded(p, exclude)]
        else:
            ignored.append(rel)
    ignored_dirs = [rel for code, rel in _parse_status(raw.out) if code == "!!" and rel.endswith("/")]
    snapshot.odd = take(repo.root, ignored_dirs + [p.rstrip("/") for p in exclude], CACHE_DIRS)
    dirty = list(watched)  # not ignored: the user's own work, kept to be put back exactly
    watched += always + [p for p in ignored if p not in set(always)][:MAX_IGNORED_FILES]
    budget = MAX_TOTAL_BYTES
    for rel in dict.fromkeys(watched):
        state = _state(repo.root / rel, hash_it=budget > 0)
        if state is not None:
            snapshot.files[rel] = state
            budget -= state.size if state.digest is not None else 0
    await _keep_contents(repo, snapshot, [rel for rel in dirty if rel in snapshot.files])
    _keep_ignored(snapshot, [rel for rel in snapshot.files if rel not in set(dirty)])
    return snapshot


def _keep_ignored(snapshot: MainTreeSnapshot, ignored: list[str]) -> None:
    """Keep small ignored files' content in memory, so one an agent overwrites is put back."""
    budget = MAX_KEPT_IGNORED_TOTAL
    for rel in ignored:
        state = snapshot.files[rel]
        path = snapshot.root / rel
        if (len(snapshot.ignored) >= MAX_KEPT_FILES or state.digest is None or state.size > MAX_KEPT_BYTES
                or state.size > budget or path.is_symlink()):
            continue
        try:
            data = path.read_bytes()
            mode = path.lstat().st_mode & 0o777
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() != state.digest:
            continue  # changed while the snapshot was taken: its recorded state is not this content
        snapshot.ignored[rel] = data
        snapshot.modes[rel] = mode
        budget -= len(data)


async def _keep_contents(repo: GitRepo, snapshot: MainTreeSnapshot, dirty: list[str]) -> None:
    """Store the dirty and untracked files' content as blobs (`git hash-object -w`)."""
    kept: list[str] = []
    for rel in dict.fromkeys(dirty):
        path = repo.root / rel
        if len(kept) >= MAX_KEPT_FILES or "\n" in rel or path.is_symlink():
            continue
        state = snapshot.files[rel]
        if state.size <= MAX_KEPT_BYTES:
            kept.append(rel)
    if not kept:
        return
    for start in range(0, len(kept), 200):  # one `git hash-object` per 200 files
        batch = kept[start:start + 200]
        stored = await repo.git("hash-object", "-w", "--no-filters", "--", *batch, check=False)
        oids = stored.out.split()
        if not stored.ok or len(oids) != len(batch):
            continue
        for rel, oid in zip(batch, oids, strict=True):
            snapshot.blobs[rel] = oid
            with contextlib.suppress(OSError):
                snapshot.modes[rel] = (repo.root / rel).lstat().st_mode & 0o777
    await _keep_reachable(repo, snapshot)


def _owner(pid: int) -> str:
    """A launcher process as a ref name part: its pid and start time (0: not known)."""
    started = process_identity.start_time(pid)
    return f"{pid}-{started if started is not None else 0}"


def _owner_ended(ref: str) -> bool:
    """Whether the process named in a `SNAPSHOT_REFS` ref has ended (a name not of ours: False)."""
    pid, _, started = ref.removeprefix(SNAPSHOT_REFS).partition("/")[0].partition("-")
    if not (pid.isdigit() and started.isdigit()):
        return False
    return not process_identity.alive(int(pid), int(started) or None)


async def _keep_reachable(repo: GitRepo, snapshot: MainTreeSnapshot) -> None:
    """Point a ref of this process at a tree holding the stored blobs: unreachable, a `git gc
    --prune=now` run meanwhile would delete them, and with them the user's only copy of a
    file an agent overwrites. Refs of ended processes go at the same time. Without the ref
    (git refused the tree: a blob already gone), the blobs stay as they were: unprotected."""
    oids = sorted(set(snapshot.blobs.values()))
    if not oids:
        return
    fd, listing = tempfile.mkstemp(prefix="launcher-mktree-")
    try:
        # Which file each blob is, for what a launcher killed before it put anything back leaves
        paths_line = await ended_snapshots.paths_entry(repo, snapshot.root, snapshot.blobs)
        with os.fdopen(fd, "w", encoding="ascii") as entries:  # `git ls-tree` lines; mktree sorts them
            entries.writelines(f"100644 blob {oid}\t{number}\n" for number, oid in enumerate(oids))
            entries.write(paths_line or "")
        tree = await repo.git("mktree", stdin_from=Path(listing), check=False)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(listing)
    if not tree.ok or not tree.out.strip():
        return
    ref = f"{SNAPSHOT_REFS}{_owner(os.getpid())}/{tree.out.strip()}"
    async with repo.lock.hold():
        if (await repo.git("update-ref", ref, tree.out.strip(), check=False)).ok:  # refs/launcher/: no reflog
            snapshot.keep_ref = ref
        await _drop_ended(repo, snapshot.from_ended)


async def _drop_ended(repo: GitRepo, kept: list[str] | None = None) -> list[str]:
    """Delete the snapshot refs of launcher processes that have ended, their copies of files that
    changed since written aside first (engine/ended_snapshots.py: what is said of them added to
    `kept`); the caller holds the lock."""
    listed = await repo.git("for-each-ref", "--format=%(refname)", SNAPSHOT_REFS, check=False)
    ended = [ref for ref in listed.out.split() if _owner_ended(ref)]
    for ref in ended:
        said = await ended_snapshots.keep_copies(repo, ref)
        if kept is not None:
            kept += said
    left = await ref_updates.delete_refs(repo, ended)
    return [ref for ref in ended if ref not in left]


async def release(repo: GitRepo, snapshot: MainTreeSnapshot | None) -> None:
    """The command that took `snapshot` is over (its last look at the main checkout done): the
    ref that kept its blobs reachable goes now, not at the next run or `launcher clean`."""
    if snapshot is None or snapshot.keep_ref is None:
        return
    async with repo.lock.hold():
        if not await ref_updates.delete_refs(repo, [snapshot.keep_ref]):
            snapshot.keep_ref = None


async def drop_ended_snapshots(repo: GitRepo) -> list[str]:
    """`launcher clean`: the snapshot refs of ended launcher processes (one killed before it
    could be followed by another run) go; the lines say what each was."""
    kept: list[str] = []
    async with repo.lock.hold():
        dropped = await _drop_ended(repo, kept)
    return [f"ref {ref} (a copy of the main checkout's uncommitted files, taken when an ended "
            "launcher process started)" for ref in dropped] + [f"kept {line}" for line in kept]


def changed_since(snapshot: MainTreeSnapshot, since: float) -> list[str]:
    """Watched files whose content changed, deleted or replaced, with a ctime at or after `since`
    (deleted files count too); the snapshot takes on unchanged files' new stat."""
    found = []
    since = wall_clock.window_start(since)  # a clock stepped back since: written after, stamped before
    for rel, before in snapshot.files.items():
        path = snapshot.root / rel
        try:
            info = path.lstat()
        except OSError:
            found.append(rel)
            continue
        if before.same_stat(info):
            continue
        if info.st_ctime_ns < (since - 1) * 1e9:
            continue  # changed before this window: not this round's doing
        now = _state(path, hash_it=before.digest is not None)
        if now is None or now.digest != before.digest or before.digest is None:
            found.append(rel)
        else:
            snapshot.files[rel] = now  # touched, same content: remember the new stat
    return sorted(found)


def refresh(snapshot: MainTreeSnapshot, rel: str) -> None:
    """Take a watched file's current state as its recorded one (after putting it back)."""
    before = snapshot.files.get(rel)
    now = _state(snapshot.root / rel, hash_it=before is None or before.digest is not None)
    if now is None:
        snapshot.files.pop(rel, None)
    else:
        snapshot.files[rel] = now


def ctime_of(path: Path) -> float | None:
    try:
        return path.lstat().st_ctime
    except OSError:
        return None
