"""What a killed launcher's copy of the main checkout's uncommitted files still holds for the user.

A launcher keeps the content of the main checkout's dirty and untracked files, as they were when
it started, as git blobs under a ref of its own (engine/tree_guard.py); it alone knows (in memory)
which file each blob is, and puts back what an agent or a check overwrote. Killed outright (-9,
the OOM killer) in the middle of a check that overwrote the user's uncommitted file, it put back
nothing: the file holds the check's output, and the next snapshot (a `resume`, a run, `launcher
clean`) deleted the only copy of the user's version with the ref.

So the ref's tree also lists each blob's file (`paths`: the checkout's root, then `<blob> <path>`
lines). Before the ref of an ended launcher goes, each listed file whose content now differs from
its copy gets that copy written to `.launcher/killed-launcher-copies/<launcher>/<path>`, and a
line says so: the launcher cannot tell the killed run's write from an edit of the user's since,
so the current file stays and both versions are there to compare.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from launcher.git.repo import GitRepo

PATHS_ENTRY = "paths"  # the tree entry listing each blob's file
COPIES_DIR = Path(".launcher") / "killed-launcher-copies"


async def paths_entry(repo: GitRepo, root: Path, blobs: dict[str, str]) -> str | None:
    """The `git mktree` line of a blob listing `blobs` (file -> blob) under `root` (None: not stored)."""
    fd, listing = tempfile.mkstemp(prefix="launcher-paths-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(os.fsencode(str(root)) + b"\n")
            out.writelines(f"{oid} ".encode() + os.fsencode(rel) + b"\n" for rel, oid in sorted(blobs.items()))
        stored = await repo.git("hash-object", "-w", "--no-filters", "--", listing, check=False)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(listing)
    oid = stored.out.strip()
    return f"100644 blob {oid}\t{PATHS_ENTRY}\n" if stored.ok and oid else None


def _blob_id(data: bytes, like: str) -> str:
    """git's id of a blob holding `data`, in the object format of `like` (sha1, or sha256)."""
    return hashlib.new("sha256" if len(like) == 64 else "sha1", b"blob %d\0" % len(data) + data).hexdigest()


async def keep_copies(repo: GitRepo, ref: str) -> list[str]:
    """Before the ended launcher's `ref` goes: its copies of files that now differ written aside;
    the lines that say where (empty: nothing differs, or the ref lists no files)."""
    listed = await repo.git("cat-file", "blob", f"{ref}:{PATHS_ENTRY}", check=False)
    if not listed.ok:
        return []
    root_line, *lines = listed.out.split("\n")
    root = Path(root_line)
    owner = ref.rstrip("/").split("/")[-2]
    said: list[str] = []
    for line in filter(None, lines):
        oid, _, rel = line.partition(" ")
        path = root / rel
        try:
            now = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        except OSError:
            now = None
        if now is not None and _blob_id(now, oid) == oid:
            continue
        target = root / COPIES_DIR / owner / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:  # (bytes as stored: never decoded)
                kept = await repo.git("cat-file", "blob", oid, check=False, stdout_to=out)
        except OSError:
            continue
        if not kept.ok:
            target.unlink(missing_ok=True)
            continue
        said.append(f"{rel} ({'deleted' if now is None else 'changed'} since a launcher that was killed took its "
                    f"copy; that copy, your uncommitted version then, is in {target.relative_to(root)}: "
                    "the killed run's write or your own edit since, compare)")
    return said
