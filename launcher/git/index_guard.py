"""The main checkout's index, which every worktree can reach: a last good copy and its restore.

The index lies in the main checkout's git dir (`<git-common-dir>/index`), which an agent reaches
from its own worktree. Deleted (or overwritten with what git cannot read), it makes git see every
tracked file of the main checkout as a staged deletion plus an untracked file: the landing then
parks on "local changes" the user never made, and committing them records the deletion of every
file. Its files are old, so the main checkout's content checks (by ctime) do not see it.

`IndexGuard` keeps the last readable index it saw (read only when its stat changed: git rewrites
it by renaming a new file over it) and puts it back when the index is gone or unreadable. Readable
means: git's `DIRC` signature, a known version, and the trailing checksum of the content (SHA-1 or
SHA-256; zeros when `index.skipHash` is set).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from launcher.store.files import atomic_write_bytes

INDEX = "index"


def readable(data: bytes) -> bool:
    """Whether `data` is an index git can read (signature, version, checksum)."""
    if len(data) < 12 + 20 or data[:4] != b"DIRC" or int.from_bytes(data[4:8], "big") not in (2, 3, 4):
        return False
    for digest, size in ((hashlib.sha1, 20), (hashlib.sha256, 32)):
        if len(data) >= 12 + size:
            trailer = data[-size:]
            if trailer == bytes(size) or digest(data[:-size]).digest() == trailer:
                return True
    return False


@dataclass
class Damage:
    what: str  # "deleted", or what it was overwritten with
    when: float | None  # ctime of the damaged file; None: a deletion leaves nothing to date


class IndexGuard:
    """The main checkout's index (`git_dir/index`) as last seen readable."""

    def __init__(self, git_dir: Path) -> None:
        self.path = git_dir / INDEX
        self.good: bytes | None = None
        self.seen: tuple[int, int, int, int] | None = None
        self.check()

    def check(self) -> Damage | None:
        """Compare with what was last seen: a change git can read becomes the new good copy (a
        `git add` of the user's, the launcher's own landing); a deleted or unreadable index is put
        back from the good copy and returned. Nothing is done when there was no index before."""
        try:
            info = self.path.lstat()
        except OSError:
            info = None
        signature = None if info is None else (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        if signature is not None and signature == self.seen:
            return None
        data = None
        if info is not None and stat.S_ISREG(info.st_mode):  # a FIFO there is never opened
            try:
                data = self.path.read_bytes()
            except OSError:
                data = None
        if data is not None and readable(data):
            self.good, self.seen = data, signature
            return None
        if self.good is None:
            return None
        damage = Damage("deleted" if info is None else "what git cannot read",
                        None if info is None else info.st_ctime)
        if info is not None and stat.S_ISDIR(info.st_mode):
            shutil.rmtree(self.path, ignore_errors=True)
        atomic_write_bytes(self.path, self.good)
        os.chmod(self.path, 0o644)
        self.seen = None  # read again next time: the launcher's git refreshes its stat data
        return damage
