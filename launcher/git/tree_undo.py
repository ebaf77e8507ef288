"""Undoing a failed update of the main work tree (`read-tree -u` from OLD to NEW), and nothing more.

git refuses an update before writing anything when a file it would change has local edits or an
untracked file is in the way; it stops half-way when the disk fills. The undo must take back
only the update's own writes, never the user's work, so a path is touched only when what it
holds now is provably what the update wrote there: the landed blob (or a cut-short prefix of it,
written since the look before the update), or nothing where the update removes or replaces a
file. Such a path gets back exactly what it held before the update (`before_update` keeps the
bytes of files with uncommitted changes, such as the launcher's ledger rows), or loses what the
update added. Anything else at a changed path (the user's edit, a file git refused to overwrite,
a file saved meanwhile) is left as it is, and said so.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from launcher.git import time_limit
from launcher.git.repo import GitRepo

_PATHS_PER_CALL = 1000  # a command line holds only so much (a landing may add 100,000 files)
# File system clocks run a little behind time.time() (coarse timestamps): a write by the update
# may carry a ctime this much before the look that preceded it.
_CLOCK_SLACK = 2.0


def split_z(output: str) -> list[str]:
    return [entry for entry in output.split("\0") if entry]


async def for_paths(repo: GitRepo, args: tuple[str, ...], paths: list[str]) -> str:
    """`git <args> -- <paths>`, a batch of paths at a time, the outputs joined (literal paths)."""
    out = []
    for start in range(0, len(paths), _PATHS_PER_CALL):
        done = await repo.git("--literal-pathspecs", *args, "--", *paths[start : start + _PATHS_PER_CALL])
        out.append(done.out)
    return "".join(out) if args[0] != "hash-object" else "\n".join(out)


async def tree_entries(repo: GitRepo, tree: str, paths: list[str]) -> dict[str, tuple[str, str]]:
    """path -> (mode, object id) in `tree`, for those of `paths` that it holds."""
    listed = await for_paths(repo, ("ls-tree", "-r", "-z", "--full-tree", tree), paths) if paths else ""
    found = {}
    for entry in split_z(listed):
        meta, _, path = entry.partition("\t")
        mode, _kind, oid = meta.split()
        found[path] = (mode, oid)
    return found


async def blobs(repo: GitRepo, tree: str, paths: list[str]) -> dict[str, str]:
    return {path: oid for path, (_mode, oid) in (await tree_entries(repo, tree, paths)).items()}


def kind_of(path: Path) -> str | None:
    """ "dir", "file", "link", "other" (a FIFO, a socket) or None (nothing there)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "link" if stat.S_ISLNK(mode) else "other"


@dataclass
class Prior:
    """One changed path before the update. `data` holds the bytes of a file (a link's target)
    whose content is not its committed one; None means "as committed at OLD" when `kind` says
    something is there. `stamp` tells later whether the path was touched since."""

    kind: str | None
    data: bytes | None = None
    mode: int = 0
    stamp: tuple[int, int, int] | None = None


@dataclass
class TreeBefore:
    """What the main work tree held, before an update, at every path the landing changes (and at
    the parent directories of the paths it adds)."""

    added: list[str]
    changed: list[str]  # modified, deleted or type-changed
    prior: dict[str, Prior]
    parents: dict[str, str | None]
    at: float = field(default_factory=time.time)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read(path: Path, kind: str | None) -> tuple[bytes | None, int]:
    try:
        if kind == "link":
            return os.fsencode(os.readlink(path)), 0
        if kind == "file":
            return path.read_bytes(), stat.S_IMODE(os.lstat(path).st_mode)
    except OSError:
        pass
    return None, 0


async def before_update(repo: GitRepo, old: str, new: str, landed_is_ours: bool = False) -> TreeBefore:
    """Taken before `read-tree -u` moves the main work tree from `old` to `new`, so that a failed
    update can be undone (`undo_update`). `landed_is_ours`: files already holding the landed
    content were written by an earlier, killed update: their state before is the committed one."""
    listed = split_z((await repo.git("diff", "--name-status", "-z", "--no-renames", old, new)).out)
    pairs = list(zip(listed[::2], listed[1::2], strict=False))
    added = [path for status, path in pairs if status == "A"]
    changed = [path for status, path in pairs if status != "A"]
    dirty = set(split_z((await repo.git("diff-files", "--name-only", "-z", check=False)).out))
    landed = await blobs(repo, new, sorted(dirty & set(changed))) if landed_is_ours else {}
    prior: dict[str, Prior] = {}
    present = [path for path in added if kind_of(repo.root / path) == "file"] if landed_is_ours else []
    written = await blobs(repo, new, present) if present else {}
    for path in added:
        at = repo.root / path
        ours = path in written and await _hash(repo, path) == written[path]
        # what a killed update wrote counts as nothing there before
        prior[path] = Prior(None) if ours else Prior(kind_of(at), stamp=_stamp(at))
    for path in changed:
        at = repo.root / path
        kind = kind_of(at)
        entry = Prior(kind, stamp=_stamp(at))
        if path in dirty and kind in ("file", "link"):
            entry.data, entry.mode = _read(at, kind)
            if landed.get(path) and await _hash(repo, path) == landed[path]:
                entry = Prior("file")  # the killed update's write: committed content before it
        prior[path] = entry
    parents: dict[str, str | None] = {}
    for path in added:
        parent = Path(path).parent
        while parent != Path(".") and parent.as_posix() not in parents:
            parents[parent.as_posix()] = kind_of(repo.root / parent)
            parent = parent.parent
    return TreeBefore(added, changed, prior, parents)


async def _hash(repo: GitRepo, path: str) -> str:
    return (await repo.git("--literal-pathspecs", "hash-object", "--", path, check=False)).out.strip()


async def _is_prefix(repo: GitRepo, path: Path, oid: str) -> bool:
    """Whether the file holds the start of blob `oid` (what a write cut short leaves)."""
    try:
        held = path.read_bytes()
    except OSError:
        return False
    with tempfile.TemporaryFile() as blob:
        done = await repo.git("cat-file", "blob", oid, check=False, stdout_to=blob)
        if not done.ok:
            return False
        size = blob.seek(0, os.SEEK_END)
        blob.seek(0)
        return len(held) < size and blob.read(len(held)) == held


@dataclass
class Undone:
    """What `undo_update` did: paths put back, paths left alone because they hold neither what
    was there before nor the update's own write, and what failed."""

    put_back: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def _landing_wrote(repo: GitRepo, path: str, entry: tuple[str, str] | None, since: float) -> bool:
    """Whether `path` holds what the update writes there (its blob, a link to its target, or a
    prefix of the blob written since the update began)."""
    at = repo.root / path
    kind = kind_of(at)
    if entry is None or entry[0] == "160000":  # a submodule: git makes only an empty directory
        return entry is not None and kind == "dir" and not any(at.iterdir())
    mode, oid = entry
    if mode == "120000":
        return kind == "link" and await _link_is(repo, at, oid)
    if kind != "file":
        return False
    if await _hash(repo, path) == oid:
        return True
    with contextlib.suppress(OSError):
        if os.lstat(at).st_ctime >= since - _CLOCK_SLACK:
            return await _is_prefix(repo, at, oid)
    return False


async def _link_is(repo: GitRepo, at: Path, oid: str) -> bool:
    with tempfile.TemporaryFile() as blob:
        done = await repo.git("cat-file", "blob", oid, check=False, stdout_to=blob)
        blob.seek(0)
        return done.ok and blob.read() == os.fsencode(os.readlink(at))


def _remove(at: Path) -> None:
    if kind_of(at) == "dir":
        at.rmdir()  # an added submodule's empty directory; never one holding files
    else:
        at.unlink()


def _write_back(at: Path, prior: Prior) -> None:
    assert prior.data is not None
    if kind_of(at) == "dir":
        at.rmdir()
    else:
        with contextlib.suppress(FileNotFoundError):
            at.unlink()
    at.parent.mkdir(parents=True, exist_ok=True)
    if prior.kind == "link":
        os.symlink(os.fsdecode(prior.data), at)
        return
    fd = os.open(at, os.O_WRONLY | os.O_CREAT | os.O_EXCL, prior.mode or 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(prior.data)
    os.chmod(at, prior.mode or 0o644)


async def undo_update(repo: GitRepo, old: str, new: str, before: TreeBefore) -> Undone:
    """Take back what a failed update from `old` to `new` wrote in the main work tree (see the
    module doc): only paths holding the update's own write are touched."""
    result = Undone()
    landing = await tree_entries(repo, new, before.added + before.changed)
    for path in before.added:
        at, prior = repo.root / path, before.prior[path]
        if kind_of(at) is None or _stamp(at) == prior.stamp:
            continue  # as it was before
        if prior.kind == "dir" and kind_of(at) == "dir":
            continue  # the user's directory, which git would not replace
        if prior.kind not in (None, "dir") or not await _landing_wrote(repo, path, landing.get(path), before.at):
            result.left.append(path)  # a file of the user's, there before or made meanwhile
            continue
        try:
            _remove(at)
            result.put_back.append(path)
        except OSError as exc:
            result.problems.append(f"{path}: {exc.strerror}")
    for name, kind in sorted(before.parents.items(), key=lambda item: item[0].count("/"), reverse=True):
        at = repo.root / name
        if kind != "dir" and kind_of(at) == "dir":
            with contextlib.suppress(OSError):  # not empty: something else is in it, left alone
                at.rmdir()
    from_old: list[str] = []
    for path in before.changed:
        at, prior = repo.root / path, before.prior[path]
        now = kind_of(at)
        if now is None and prior.kind is None:
            continue
        if now is not None and _stamp(at) == prior.stamp:
            continue  # untouched
        # Nothing there (the update removed it, or was replacing it) or the landed content.
        if now is not None and (now == "dir" or not await _landing_wrote(repo, path, landing.get(path), before.at)):
            if not await _unchanged(repo, old, path, prior):
                result.left.append(path)
            continue
        if prior.kind is None:  # the update wrote where nothing was (the user had deleted it)
            try:
                _remove(at)
                result.put_back.append(path)
            except OSError as exc:
                result.problems.append(f"{path}: {exc.strerror}")
        elif prior.data is None and prior.kind in ("file", "link"):
            from_old.append(path)
        elif prior.data is None:
            result.left.append(path)
        else:
            try:
                _write_back(at, prior)
                result.put_back.append(path)
            except OSError as exc:
                result.problems.append(f"{path}: {exc.strerror}")
    for start in range(0, len(from_old), _PATHS_PER_CALL):
        batch = from_old[start : start + _PATHS_PER_CALL]
        done = await repo.git("--literal-pathspecs", "checkout", old, "--", *batch, check=False)
        if done.ok:
            result.put_back.extend(batch)
        else:
            result.problems.append(done.err.strip() or f"git checkout {old[:12]} failed")
    return result


async def _unchanged(repo: GitRepo, old: str, path: str, prior: Prior) -> bool:
    """Whether `path` holds what it held before the update (touched, same content)."""
    at = repo.root / path
    if prior.data is not None:
        return _read(at, kind_of(at))[0] == prior.data
    if prior.kind not in ("file", "link"):
        return False
    committed = (await blobs(repo, old, [path])).get(path)
    if prior.kind == "link":
        return kind_of(at) == "link" and committed is not None and await _link_is(repo, at, committed)
    return kind_of(at) == "file" and committed is not None and await _hash(repo, path) == committed


def _named(paths: list[str]) -> str:
    return ", ".join(paths[:8]) + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")


# git's words for a lock file another git process holds, or one a killed git left behind.
_LOCK_EXISTS = re.compile(r"Unable to create '([^']+\.lock)': File exists")


def update_failed_hint(err: str, undone: Undone) -> str:
    """What to do before merging by hand after a failed update (a sentence the merge command
    ends): a stale lock file git names is removed, not "moved aside" (its git is not running)."""
    if undone.problems or undone.left:
        return "Move the files named above aside, then run"
    if "No space left" in err or "unable to write" in err:
        return "Free space on the main work tree's file system, then run `launcher land` or"
    if time_limit.VARIABLE in err:  # stopped at the launcher's git time limit
        return (f"Raise the launcher's git time limit ({time_limit.VARIABLE}=SECONDS in the environment; 0: "
                "none) and run `launcher land`, or")
    if locked := _LOCK_EXISTS.search(err):
        return (
            f"Make sure no git process is running in this repository (an editor opened by `git commit`, "
            f"say); the lock file is then stale, left by a git that was killed: remove it "
            f"(`rm {shlex.quote(locked[1])}`), then run `launcher land` or"
        )
    return "Move the files named above aside, then run"


def said(reason: str, undone: Undone) -> str:
    """`reason`, with what the undo did and what it left, truthfully."""
    if undone.put_back and not undone.left and not undone.problems:
        return reason + "; what it had written was removed, so the work tree is as before"
    if not undone.put_back and not undone.left and not undone.problems:
        return reason + "; it had changed nothing there, so the work tree is as before"
    parts = [reason]
    if undone.put_back:
        parts.append(f"what it had written was removed ({_named(undone.put_back)})")
    if undone.left:
        parts.append(
            f"left alone, as they hold neither what was there before nor what the landing "
            f"writes (so they are yours): {_named(undone.left)}"
        )
    if undone.problems:
        parts.append(f"what it had written could not all be removed ({'; '.join(undone.problems)})")
    return "; ".join(parts)
