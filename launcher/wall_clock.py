"""Wall-clock window starts that a clock step cannot move past the writes made after them.

What changed in a window ("written since this round started") is judged by files' ctimes, which
the kernel stamps from the wall clock. When that clock steps back during the window (NTP
correcting a clock that ran fast, a VM restored), every write made after the step is stamped
before the window's start, and was taken for an older change (the user's): an agent's write into
the main checkout stayed there, unreported. `stamp()` takes a window's start and remembers how
the wall clock then stood against the monotonic clock; `window_start()` gives that start as the
wall clock reads it now: earlier by any step back made since (never later: a forward step
leaves it as it was). `boot_clock()`/`elapsed()`: how long ago an instant another process
recorded was, unmoved by a step (`clean --older-than`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

_KEPT = 4096  # the latest stamps remembered (a run takes a few per task round)
_offsets: dict[float, float] = {}  # stamp -> wall - monotonic when it was taken
_lock = threading.Lock()


def stamp() -> float:
    """`time.time()` now, remembered as a window's start for `window_start`."""
    wall, mono = time.time(), time.monotonic()
    with _lock:
        _offsets[wall] = wall - mono
        while len(_offsets) > _KEPT:
            del _offsets[next(iter(_offsets))]
    return wall


def window_start(since: float) -> float:
    """`since` (a `stamp()`) as the wall clock now reads that instant, if the clock has stepped
    back since, else `since` itself; a time `stamp` did not give (a round recorded by an earlier
    process) is returned as it is."""
    with _lock:
        then = _offsets.get(since)
    if then is None:
        return since
    return min(since, since + (time.time() - time.monotonic()) - then)


_lags: dict[str, float] = {}


def file_system_lag(directory: Path) -> float:
    """How far the clock stamping files in `directory` lags this machine's (seconds, 0 when it
    does not): a network file system stamps ctimes by its server's clock, a coarse one (FAT)
    rounds them down. A window's start moved back by it still holds the writes made in it. Taken
    once per directory and process, by a probe file created and removed at once (`directory`: a
    folder of the launcher's own, on the file system of the checkout it watches)."""
    key = str(directory)
    if key not in _lags:
        with contextlib.suppress(OSError):  # (no folder yet: 0, asked again next time)
            before = time.time()
            fd, name = tempfile.mkstemp(prefix=".launcher-clock-", dir=directory)
            try:
                _lags[key] = max(0.0, before - os.fstat(fd).st_ctime)
            finally:
                os.close(fd)
                os.unlink(name)
    return _lags.get(key, 0.0)


_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_boot: list[str | None] = []  # this boot's id, read once


def boot_clock() -> tuple[str | None, float | None]:
    """This boot's id and the seconds since it (CLOCK_BOOTTIME: it counts a suspend and never
    steps), recorded beside a `time.time()` so that another process of the same boot can tell
    how long ago that was whatever the wall clock did meanwhile; (None, None) where there is none."""
    if not _boot:
        try:
            _boot.append(_BOOT_ID.read_text().strip() or None)
        except OSError:
            _boot.append(None)
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    if _boot[0] is None or clock is None:
        return None, None
    return _boot[0], time.clock_gettime(clock)


def elapsed(wall: float, boot: str | None, since_boot: float | None) -> float:
    """Seconds since the instant recorded as `wall` (its `time.time()`) and `boot`, `since_boot`
    (its `boot_clock()`): by the boot clock when that was in this boot (a step of the wall clock
    since, NTP or a VM restored, does not change it), else by the wall clock (after a reboot)."""
    now_boot, now_since = boot_clock()
    if boot is not None and since_boot is not None and boot == now_boot and now_since is not None:
        return now_since - since_boot
    return time.time() - wall
