"""When an agent last changed a file in its worktree: an agent busy editing files without
printing is not stalled (the inactivity timeout counts output and file changes).

The worktree is walked in a worker thread, never on the event loop (a tree with 150,000 files
under node_modules takes a good part of a second to walk), one walk at a time per agent, each of
at most MAX_SCAN_ENTRIES entries (the rest of a larger tree is not looked at), and the next walk
starts no sooner than SCAN_EVERY_S, nor than ten times the last walk's duration after it (so
walking uses at most about a tenth of a core per agent). The probe itself only reads the result.

A change is any change of the walk's fingerprint (each file's path, mtime, ctime and size), never
only a newer newest mtime: a file dated in the future (copied in with its stored times, clock skew,
`touch -d`) or the wall clock stepped back made every later edit look older, and an agent
editing files every second was killed as stalled. The ctime is the kernel's: nothing sets it back.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

SCAN_EVERY_S = 1.0
MAX_SCAN_ENTRIES = 200_000


class FileActivity:
    """`probe()`: the monotonic time of the latest file change seen (the start time before any)."""

    def __init__(self, root: Path, every_s: float = SCAN_EVERY_S, max_entries: int = MAX_SCAN_ENTRIES) -> None:
        self.root = root
        self.every_s = every_s
        self.max_entries = max_entries
        self.latest = time.monotonic()
        self.scans = 0  # walks finished (the first is the baseline)
        self._seen: tuple[int, int] | None = None  # the last whole walk's fingerprint
        self._lock = threading.Lock()
        self._running = False
        self._next = 0.0
        self._closed = threading.Event()
        self.probe()  # the baseline walk starts now, before the agent does

    def probe(self) -> float:
        now = time.monotonic()
        with self._lock:
            if not self._running and now >= self._next and not self._closed.is_set():
                self._running = True
                threading.Thread(target=self._scan, name="launcher-file-activity", daemon=True).start()
            return self.latest

    def close(self) -> None:
        """Stop walking (a walk under way ends at its next directory)."""
        self._closed.set()

    def _scan(self) -> None:
        started = time.monotonic()
        seen: tuple[int, int] | None = None
        try:
            seen = fingerprint(self.root, self.max_entries, self._closed)
        finally:
            took = time.monotonic() - started
            with self._lock:
                if seen is not None and not self._closed.is_set():  # (a walk cut short says nothing)
                    if self._seen is not None and seen != self._seen:
                        self.latest = time.monotonic()
                    self._seen = seen
                self.scans += 1
                self._running = False
                self._next = time.monotonic() + max(self.every_s, 10 * took)


def _files(root: Path, max_entries: int, stop: threading.Event | None) -> Iterator[tuple[str, os.stat_result]]:
    """Each file under `root` with its `lstat` (`.git` left out, links not followed), looking at
    no more than `max_entries` entries."""
    seen = 0
    folders = [str(root)]
    while folders and seen < max_entries:
        if stop is not None and stop.is_set():
            break
        try:
            with os.scandir(folders.pop()) as entries:
                for entry in entries:
                    seen += 1
                    if seen > max_entries:
                        break
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if entry.name != ".git":
                                folders.append(entry.path)
                            continue
                        found = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    yield entry.path, found
        except OSError:
            continue


def fingerprint(root: Path, max_entries: int = MAX_SCAN_ENTRIES,
                stop: threading.Event | None = None) -> tuple[int, int]:
    """The files under `root` (as `_files` walks them) as (their count, a sum of each one's
    (path, mtime, ctime, size) hash): any file written, added, removed or re-dated changes it,
    whatever its times say, in whatever order the walk meets them."""
    count = total = 0
    for path, found in _files(root, max_entries, stop):
        count += 1
        total = (total + hash((path, found.st_mtime_ns, found.st_ctime_ns, found.st_size))) & 0xFFFF_FFFF_FFFF_FFFF
    return count, total


def newest_mtime(root: Path, max_entries: int = MAX_SCAN_ENTRIES, stop: threading.Event | None = None) -> float:
    """The newest modification time of a file under `root` (`.git` left out, links not followed),
    looking at no more than `max_entries` entries."""
    return max((found.st_mtime for _, found in _files(root, max_entries, stop)), default=0.0)
