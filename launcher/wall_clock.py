"""Wall-clock window starts that a clock step cannot move past the writes made after them.

What changed in a window ("written since this round started") is judged by files' ctimes, which
the kernel stamps from the wall clock. When that clock steps back during the window (NTP
correcting a clock that ran fast, a VM restored), every write made after the step is stamped
before the window's start, and was taken for an older change (the user's): an agent's write into
the main checkout stayed there, unreported. `stamp()` takes a window's start and remembers how
the wall clock then stood against the monotonic clock; `window_start()` gives that start as the
wall clock reads it now: earlier by any step back made since (never later: a forward step
leaves it as it was).
"""

from __future__ import annotations

import threading
import time

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
