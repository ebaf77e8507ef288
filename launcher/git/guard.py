"""The shared git directory's executable surface: a snapshot, a comparison, and an undo.

Every worktree of a repository shares one git directory. An agent can reach it from its own
worktree (`git rev-parse --git-common-dir`) and plant a hook, or set `core.hooksPath`,
`core.fsmonitor`, a filter or merge driver in the config, all of which run commands later: in
the launcher's git, or in the user's git long after the run. The launcher's own git already
runs with hooks and fsmonitor off (`environment.git_env`); this module makes sure nothing an agent
changed there survives: the run snapshots these files, and after each agent round the changes
are put back and the task is failed.

Watched: `hooks/` (every file, recursively; symlinks by target), `config`, `config.worktree`,
`info/attributes`, `info/exclude` (a pattern there hides what an agent writes into the main
checkout from `git status`), `info/grafts` (it rewrites the history every git command reads, as
a replace ref does: those are watched by ref_guard.py), `shallow` (each commit listed there is
read as having no parent: the history past it is hidden, and `git gc` drops it; but a line git
wrote for a commit whose parents it did not fetch keeps the repository whole, and is never
dropped: git/shallow_file.py judges each change first, and an unjudged one is left for the next
check) and
`objects/info/alternates` (object stores borrowed from elsewhere: what every git command reads),
the main checkout's operation in progress (`MERGE_HEAD`, `MERGE_MSG`, `MERGE_MODE`,
`CHERRY_PICK_HEAD`, `REVERT_HEAD`, `BISECT_*`, and every file of `sequencer/`,
`rebase-merge/`, `rebase-apply/`: an agent's MERGE_HEAD makes the user's next commit a merge of
the agent's commit, its fake `rebase-merge/` makes the landing park and tell the user to `git
rebase --abort` onto it; of the primary checkout, and of the launcher's own checkout when it is a
linked worktree), each linked worktree's
`worktrees/<id>/config.worktree`, and the `HEAD` file: a branch switched to or a commit detached
at is ref_guard.py's to judge (the snapshot takes it in), but a HEAD git cannot read (garbage,
deleted) makes the whole repository "not a git repository", for the launcher's git and the
user's: it is put back as it last was readable before anything else runs git.

git writes that last file itself when the launcher adds a worktree in a repository with
per-worktree config (a sparse checkout: `core.sparseCheckout` is copied into every new
worktree): `launcher_added_worktree` records what git wrote there as the launcher's, beside it
(`worktrees/<id>/launcher-added.json`), so that every launcher process on the repository (a
second run, `pool warm`, a sweep's workers) knows it, and only a later change of it is an agent's.

Two changes are the user's, never an agent's: a config change that only sets branches' upstreams
(`branch.<name>.remote`/`.merge`..., what `git branch feature origin/main` writes: compared by
git/config_keys.py, taken in with `take_in`), and the operation in progress of a git process of
the user's still at work in the checkout (their `git pull --rebase`: `undo_tampering` leaves it
while `users_git_live` says so, and looks again at the next check).

The launcher itself appends to `info/exclude` while agents run (`/.launcher/`, review files:
`launcher_excludes` announces each pattern first): those lines, appended, are never a change,
and are kept when the file is put back.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from launcher.errors import LauncherError
from launcher.git import in_progress

EXCLUDE = "info/exclude"
HEAD = "HEAD"
SHALLOW = "shallow"
_READABLE_HEAD = re.compile(rb"^(?:ref: refs/\S+|[0-9a-f]{40}(?:[0-9a-f]{24})?)\s*$")
_SINGLE_FILES = ("config", "config.worktree", "info/attributes", EXCLUDE, "info/grafts", SHALLOW,
                 "objects/info/alternates", HEAD)
# Patterns the launcher appends to info/exclude itself. Those every launcher process may add (its
# state dir, a reviewer's packet copy, Aider's files) are known up front: another launcher
# process (a second run, a review) adding one is not an agent's change of the shared git dir.
ANY_LAUNCHER_EXCLUDES = ("/.launcher/", "/.launcher-review/", ".aider*")
_OWN_EXCLUDES: set[str] = set(ANY_LAUNCHER_EXCLUDES)


def launcher_excludes(pattern: str) -> None:
    """The launcher is about to append `pattern` to info/exclude: not an agent's change."""
    _OWN_EXCLUDES.add(pattern)


@dataclass(frozen=True)
class Entry:
    """One watched path: a regular file (content and mode) or a symlink (its target)."""

    is_link: bool
    data: bytes
    mode: int


# Beside each `worktrees/<id>/config.worktree`: what git wrote there when a launcher process
# added that worktree, and when (wall clock: any process reads it).
OWN_WORKTREE_MARK = "launcher-added.json"


@dataclass(frozen=True)
class GitDirSnapshot:
    common_dir: Path
    entries: dict[str, Entry]
    taken: float = field(default_factory=time.time)
    # The git dirs (relative to `common_dir`, "" for itself) whose operation in progress is
    # watched: the primary checkout's, and the launcher's own checkout's when it is linked.
    checkouts: tuple[str, ...] = ("",)
    # Files whose change must be judged with git before it is put back (`shallow`): the
    # content that was judged, and what it is to be put back as (`judge`).
    judged: dict[str, tuple[Entry | None, Entry | None]] = field(default_factory=dict)


class GitDirTampered(LauncherError):
    """An agent changed hooks or config of the shared git directory (undone by the launcher)."""

    default_key = "git_dir_tampered"


def _read(path: Path) -> Entry | None:
    try:
        info = path.lstat()
        if path.is_symlink():
            return Entry(True, os.fsencode(os.readlink(path)), 0)
        if not path.is_file():
            return None
        return Entry(False, path.read_bytes(), info.st_mode & 0o7777)
    except OSError:
        return None


def launcher_added_worktree(common_dir: Path, admin: Path | None) -> None:
    """The launcher has just added a worktree whose admin dir is `admin` (`git worktree add`,
    under the repository lock): the `config.worktree` git copied there (a sparse checkout's
    settings) is git's doing, not an agent's. It is recorded beside it for every launcher
    process: a snapshot taken before takes it in as it is now (`changed_paths`), so an agent's
    later change, or its removal, is still one."""
    if admin is None:
        return
    worktrees = common_dir / "worktrees"
    with contextlib.suppress(OSError):
        if admin.resolve().parent != worktrees.resolve():
            return
        entry = _read(worktrees / admin.name / "config.worktree")
        mark = {"at": time.time(), "link": entry.is_link if entry else None,
                "data": base64.b64encode(entry.data).decode() if entry else None,
                "mode": entry.mode if entry else None}
        scratch = worktrees / admin.name / f".{OWN_WORKTREE_MARK}.{os.getpid()}"
        scratch.write_text(json.dumps(mark))
        os.replace(scratch, worktrees / admin.name / OWN_WORKTREE_MARK)


def _own_write(admin: Path) -> tuple[float, Entry | None] | None:
    """When a launcher added this worktree and what git wrote into its `config.worktree` then."""
    try:
        mark = json.loads((admin / OWN_WORKTREE_MARK).read_text())
        at = float(mark["at"])
        if mark["data"] is None:
            return at, None
        return at, Entry(bool(mark["link"]), base64.b64decode(mark["data"]), int(mark["mode"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _take_in_own_worktree_config(snapshot: GitDirSnapshot) -> None:
    """What git wrote into the admin dirs of worktrees a launcher process added since the
    snapshot was taken becomes part of the snapshot (a worktree since removed is no change)."""
    admin_root = snapshot.common_dir / "worktrees"
    with contextlib.suppress(OSError):
        for admin in admin_root.iterdir():
            own = _own_write(admin) if admin.is_dir() else None
            if own is None or own[0] < snapshot.taken:
                continue
            rel = f"worktrees/{admin.name}/config.worktree"
            if own[1] is None:
                snapshot.entries.pop(rel, None)
            else:
                snapshot.entries[rel] = own[1]


def _watched(common_dir: Path, checkouts: tuple[str, ...]) -> list[str]:
    paths = [*_SINGLE_FILES, *in_progress.tree_paths(common_dir, "hooks")]
    for checkout in checkouts:
        paths += in_progress.paths(common_dir, checkout)
    admin = common_dir / "worktrees"
    if admin.is_dir():
        paths += [f"worktrees/{d.name}/config.worktree" for d in admin.iterdir() if d.is_dir()]
    return paths


def _current(common_dir: Path, checkouts: tuple[str, ...] = ("",)) -> dict[str, Entry]:
    entries = {}
    for rel in _watched(common_dir, checkouts):
        entry = _read(common_dir / rel)
        if entry is not None:
            entries[rel] = entry
    return entries


def take_snapshot(common_dir: Path, git_dir: Path | None = None) -> GitDirSnapshot:
    """The watched files as they are now; `git_dir`: the launcher's own checkout's git dir (its
    operation in progress is watched too when it is a linked worktree's)."""
    checkouts: tuple[str, ...] = ("",)
    if git_dir is not None:
        with contextlib.suppress(ValueError, OSError):
            rel = git_dir.resolve().relative_to(common_dir.resolve()).as_posix()
            if rel not in ("", "."):
                checkouts += (rel,)
    return GitDirSnapshot(common_dir, _current(common_dir, checkouts), checkouts=checkouts)


def _vanished_worktree(snapshot: GitDirSnapshot, rel: str) -> bool:
    """A linked worktree removed since the snapshot (landed, cleaned up) is not a change."""
    parts = rel.split("/")
    return parts[0] == "worktrees" and not (snapshot.common_dir / parts[0] / parts[1]).is_dir()


def _lines(entry: Entry | None) -> list[bytes]:
    return entry.data.splitlines() if entry is not None else []


def _wanted_exclude(before: Entry | None, now: Entry | None) -> Entry | None:
    """info/exclude as the snapshot had it plus the launcher's own patterns appended since."""
    known = set(_lines(before))
    own = {os.fsencode(pattern) for pattern in _OWN_EXCLUDES}
    added = list(dict.fromkeys(line for line in _lines(now) if line in own and line not in known))
    if not added:
        return before
    data = before.data if before is not None else b""
    if data and not data.endswith(b"\n"):
        data += b"\n"
    mode = before.mode if before is not None else now.mode if now is not None else 0o644
    return Entry(False, data + b"".join(line + b"\n" for line in added), mode)


def current(snapshot: GitDirSnapshot, rel: str) -> Entry | None:
    """A watched file as it is now."""
    return _read(snapshot.common_dir / rel)


def take_in(snapshot: GitDirSnapshot, rel: str, entry: Entry | None) -> None:
    """A change found to be no threat (a branch's upstream in the config) becomes the snapshot's."""
    if entry is None:
        snapshot.entries.pop(rel, None)
    else:
        snapshot.entries[rel] = entry


def judge(snapshot: GitDirSnapshot, rel: str, seen: Entry | None, wanted: Entry | None) -> None:
    """`rel`, found as `seen`, is to be as `wanted` (git/shallow_file.py): the next comparison
    takes `wanted` for the snapshot's if the file is still as `seen`."""
    snapshot.judged[rel] = (seen, wanted)


def _take_in_judged(snapshot: GitDirSnapshot, now: dict[str, Entry]) -> set[str]:
    """Judged files still as judged get their wanted content as the snapshot's; the paths that
    changed and were not judged (or changed again since) are returned, to be left for now."""
    unjudged = set()
    for rel in (SHALLOW,):
        judged = snapshot.judged.pop(rel, None)
        if judged is not None and judged[0] == now.get(rel):
            take_in(snapshot, rel, judged[1])
        elif now.get(rel) != snapshot.entries.get(rel):
            unjudged.add(rel)
    return unjudged


def readable_head(entry: Entry | None) -> bool:
    """Whether git can read this HEAD: a symbolic ref to a ref under refs/, or a commit id (or,
    as old gits wrote it, a symbolic link)."""
    return entry is not None and (entry.is_link or bool(_READABLE_HEAD.match(entry.data)))


def changed_paths(snapshot: GitDirSnapshot) -> dict[str, str]:
    """Watched paths that differ from the snapshot, each with "added", "changed" or "deleted".
    The launcher's own info/exclude lines are taken into the snapshot (so a restore keeps them),
    and so is a HEAD git can read (a switch of the main checkout's branch is ref_guard's). A
    change of `shallow` that was not judged is left out (`_take_in_judged`)."""
    _take_in_own_worktree_config(snapshot)
    now = _current(snapshot.common_dir, snapshot.checkouts)
    for rel in _take_in_judged(snapshot, now):
        if rel in snapshot.entries:
            now[rel] = snapshot.entries[rel]
        else:
            now.pop(rel, None)
    if readable_head(now.get(HEAD)):
        snapshot.entries[HEAD] = now[HEAD]
    wanted = _wanted_exclude(snapshot.entries.get(EXCLUDE), now.get(EXCLUDE))
    if wanted is not None:
        snapshot.entries[EXCLUDE] = wanted
    found = {}
    for rel, entry in snapshot.entries.items():
        if rel not in now:
            if not _vanished_worktree(snapshot, rel):
                found[rel] = "deleted"
        elif now[rel] != entry:
            found[rel] = "changed"
    for rel in now.keys() - snapshot.entries.keys():
        found[rel] = "added"
    return dict(sorted(found.items()))


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def restore(snapshot: GitDirSnapshot, changed: dict[str, str], prune: bool = True) -> None:
    """Put back changed and deleted files, remove added ones (written atomically); `prune`: an
    in-progress directory left empty goes too (not while a live git of the user's works in it)."""
    for rel in changed:
        path = snapshot.common_dir / rel
        with contextlib.suppress(FileNotFoundError):
            _remove(path)
        entry = snapshot.entries.get(rel)
        if entry is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if entry.is_link:
            os.symlink(os.fsdecode(entry.data), path)
            continue
        scratch = path.with_name(f".{path.name}.launcher-restore")
        scratch.write_bytes(entry.data)
        os.chmod(scratch, entry.mode)
        os.replace(scratch, path)
    if prune:
        in_progress.prune(snapshot.common_dir, snapshot.checkouts, snapshot.entries)


def change_times(snapshot: GitDirSnapshot, changed: dict[str, str]) -> list[float | None]:
    """When each change was made (ctime, which cannot be back-dated; None: a deletion leaves
    nothing to date)."""
    times: list[float | None] = []
    for rel in changed:
        try:
            times.append((snapshot.common_dir / rel).lstat().st_ctime)
        except OSError:
            times.append(None)
    return times


def in_progress_present(snapshot: GitDirSnapshot) -> bool:
    """Whether a watched checkout shows an operation in progress now (a merge, rebase, bisect...)."""
    return any(rel not in snapshot.entries for checkout in snapshot.checkouts
               for rel in in_progress.paths(snapshot.common_dir, checkout)
               if (snapshot.common_dir / rel).exists())


def undo_tampering(snapshot: GitDirSnapshot, aside: Path | None = None,
                   users_git_live: Callable[[], bool] | None = None) -> tuple[str, list[float | None]] | None:
    """Undo every change to the watched files; None if there was none, else a description and
    when each change was made (`change_times`). `aside`: where the changed and added files are
    copied first (a user's `git config` made during a run is set aside there, never lost).
    `users_git_live`: asked when the operation-in-progress state changed; True (a git process of
    the user's is at work in the checkout: its `git pull --rebase`) leaves that state as it is,
    neither put back nor reported, for the next check to look at again."""
    changed = changed_paths(snapshot)
    live = False
    if users_git_live is not None and any(in_progress.is_in_progress(rel) for rel in changed) and users_git_live():
        changed = {rel: how for rel, how in changed.items() if not in_progress.is_in_progress(rel)}
        live = True
    if not changed:
        return None
    times = change_times(snapshot, changed)
    if aside is not None:
        for rel, how in changed.items():
            source = snapshot.common_dir / rel
            if how != "deleted" and (source.is_file() or source.is_symlink()):
                with contextlib.suppress(OSError):
                    (aside / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, aside / rel, follow_symlinks=False)
    restore(snapshot, changed, prune=not live)
    where = f"; what it was is kept in {aside}" if aside is not None and any(
        how != "deleted" for how in changed.values()) else ""
    listed = ", ".join(_described(rel, how) for rel, how in in_progress.grouped(changed).items())
    if any(how == "added" and in_progress.is_in_progress(rel) for rel, how in changed.items()):
        listed += " (git took the checkout for one in the middle of a merge, rebase or bisect)"
    return listed + where, times


def _described(rel: str, how: str) -> str:
    if rel != HEAD:
        return f"{rel} {how}"
    done = "deleted" if how == "deleted" else "overwritten with what git cannot read"
    return (f"HEAD {done}: every git command in the repository failed with 'not a git repository' "
            "until the launcher put it back")


def tampered(who: str, listed: str, common_dir: Path) -> GitDirTampered:
    return GitDirTampered(
        f"{who} changed the repository's shared git directory ({listed}); "
        "the launcher put the files back as they were",
        where=str(common_dir),
        fix="agents must not touch the git directory's files (HEAD, hooks, config); "
        "if the task needs a git setting, set it in the repository before the run",
    )
