"""What the main checkout held right before a judge call, so that its put-back restores exactly that.

The judge's watch (gates/judge_guard.py) records the main checkout once, before its first call.
A file the user saves after that (between two calls, while the launcher writes the next packet)
differs from that record: without more, the next call's check would take the save for the
judge's write and put the older recorded copy back over it. So right before each call, the files
that differ from the record are read (small ones, in memory only: an ignored file may hold
secrets; with their stat): one that holds the same after the call was not changed by it, and one
that changed during the call is put back as it was right before it. What changed during the call
cannot be told apart (the judge's write, or the user's save made meanwhile): both versions are
kept (the one found moved aside), and what is said names where. One too big to keep is left as it
was found, never replaced by the older recorded copy.

(The same rule as for agent rounds and integration checks, app/run/round_copy.py and
app/run/before_check.py, which the gates layer cannot import.)
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

from launcher.engine import main_restore
from launcher.engine.tree_guard import MAX_KEPT_BYTES, MAX_KEPT_IGNORED_TOTAL

Stat = tuple[int, int, int, int, int]  # mode, size, mtime, ctime (ns), inode: a write changes it


@dataclass
class CallCopy:
    contents: dict[str, bytes | None] = field(default_factory=dict)  # None: not there
    modes: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Stat | None] = field(default_factory=dict)  # every path read (None: not there)
    unsure: set[str] = field(default_factory=set)  # too big (or unreadable) to keep

    def covers(self, rel: str) -> bool:
        return rel in self.stats


def _stat(path: Path) -> Stat | None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    return info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def take(root: Path, paths: set[str]) -> CallCopy:
    """`paths` of the main checkout as they are now (right before a call)."""
    copy, budget = CallCopy(), MAX_KEPT_IGNORED_TOTAL
    for rel in sorted(paths):
        path = root / rel
        try:
            found = copy.stats[rel] = _stat(path)
        except OSError:
            copy.stats[rel] = None
            copy.unsure.add(rel)
            continue
        if found is None:
            copy.contents[rel] = None
            continue
        data = main_restore.bounded_copy(path, found[0], found[1], min(MAX_KEPT_BYTES, budget))
        if data is None:
            copy.unsure.add(rel)
            continue
        copy.contents[rel] = data
        copy.modes[rel] = found[0] & 0o777
        budget -= found[1]
    return copy


def changed_in_call(root: Path, copy: CallCopy) -> list[str]:
    """The paths `copy` holds that changed since it was taken (a touch that kept the content
    is no change)."""
    return [rel for rel in sorted(copy.stats) if not holds(root, copy, rel)]


def holds(root: Path, copy: CallCopy, rel: str) -> bool:
    """Whether `rel` is as it was when `copy` was taken (False: changed, or not in `copy`)."""
    if not copy.covers(rel):
        return False
    try:
        now = _stat(root / rel)
    except OSError:
        return False
    if now == copy.stats[rel]:
        return True
    if rel in copy.unsure or now is None or not stat.S_ISREG(now[0]):
        return False
    data = copy.contents.get(rel)
    if data is None or now[1] != len(data):
        return False
    try:
        return (root / rel).read_bytes() == data
    except OSError:
        return False


def put_back(root: Path, copy: CallCopy, paths: list[str], aside_dir: Path) -> list[str]:
    """Put `paths` (all covered by `copy`, changed during the call) back as they were right
    before it, the version found moved aside (the caller holds the repository lock); one line
    each, saying how."""
    said = []
    for rel in sorted(paths, key=lambda rel: (-rel.count("/"), rel)):
        if rel in copy.unsure:
            said.append(f"{rel} (left as found: it changed since the judge started, and was too big to keep as it "
                        "was right before this call, so no older copy is put back over it)")
            continue
        try:
            said.append(f"{rel} ({_restore(root, copy, rel, aside_dir)})")
        except OSError as exc:
            said.append(f"{rel} (left as found ({exc.strerror or exc}))")
    return said


def _restore(root: Path, copy: CallCopy, rel: str, aside_dir: Path) -> str:
    return main_restore.restore_copy(root, rel, copy.contents[rel], copy.modes.get(rel, 0o644), aside_dir,
                                     moment="right before this call", found="the version found")
