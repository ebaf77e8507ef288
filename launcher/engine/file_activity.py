"""When an agent last changed a file in its worktree: an agent busy editing files without
printing is not stalled (the inactivity timeout counts output and file changes).

The worktree is walked in a worker thread, never on the event loop (a tree with 150,000 files
under node_modules takes a good part of a second to walk), one walk at a time per agent, each of
at most MAX_SCAN_ENTRIES entries (the rest of a larger tree is not looked at), and the next walk
starts no sooner than SCAN_EVERY_S, nor than ten times the last walk's duration after it (so
walking uses at most about a tenth of a core per agent). The probe itself only reads the result.
"""

from __future__ import annotations

import os
import threading
import time
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
        self._newest: float | None = None
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
        try:
            newest = newest_mtime(self.root, self.max_entries, self._closed)
        finally:
            took = time.monotonic() - started
            with self._lock:
                if self._newest is not None and newest > self._newest:
                    self.latest = time.monotonic()
                if self._newest is None or newest > self._newest:
                    self._newest = newest
                self.scans += 1
                self._running = False
                self._next = time.monotonic() + max(self.every_s, 10 * took)


def newest_mtime(root: Path, max_entries: int = MAX_SCAN_ENTRIES, stop: threading.Event | None = None) -> float:
    """The newest modification time of a file under `root` (`.git` left out, links not followed),
    looking at no more than `max_entries` entries."""
    newest, seen = 0.0, 0
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
                        newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
                    except OSError:
                        continue
        except OSError:
            continue
    return newest
