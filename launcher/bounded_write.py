"""A last line written without ever keeping the process waiting on its reader.

A write to a pipe blocks while its reader does not read (`2>&1 | less` left open, a log shipper
under back-pressure). A command that is stopping (a SIGTERM, Ctrl-C) or an event loop that only
has a note to give must not wait for such a reader: the write is made by a thread of its own,
waited for while its reader takes bytes, and dropped once it takes none for a while.
"""

from __future__ import annotations

import os
import threading


def write_bounded(fd: int, data: bytes, grace_s: float = 2.0, failed: list[OSError] | None = None) -> bool:
    """Write `data` to `fd` from a thread of its own, waiting while it goes out but giving up once
    `grace_s` passes with no byte taken (a reader that does not read): a command's last line on its
    way out (a stop, an error) must never keep the process alive. True when all of it was written
    (or the reader had gone: nothing to wait for; the error is added to `failed` when given); with
    `grace_s` 0, only starts the write."""
    written = [0]
    done = threading.Event()

    def write() -> None:
        view = memoryview(data)
        try:
            while view:
                try:
                    n = os.write(fd, view)
                except InterruptedError:
                    continue
                view = view[n:]
                written[0] += n
        except OSError as exc:  # the reader has gone, the descriptor closed: nothing to wait for
            if failed is not None:
                failed.append(exc)
        finally:
            done.set()

    threading.Thread(target=write, name="launcher-last-line", daemon=True).start()
    if grace_s <= 0:
        return done.is_set()
    seen = 0
    while not done.wait(grace_s):
        if written[0] == seen:
            return False  # dropped: the thread stays blocked in its write until the process exits
        seen = written[0]
    return True


__all__ = ["write_bounded"]
