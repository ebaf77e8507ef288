"""Who is told of the children the process wrapper starts and ends (`process.run`, `process.supervise`):
a launcher killed with -9 cannot reap its children, so a run journals each one (engine/orphans.py)
for the next launcher to find. Set per context, so concurrent tasks each journal their own."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class SpawnObserver:
    """Told about every child `run` and `supervise` start and end, so a caller can journal them:
    a launcher killed with -9 cannot reap its children, the next one must find them."""

    started: Callable[[int, Sequence[str], str], None]  # (pgid, argv, kind: "command" | "supervised")
    ended: Callable[[int], None]  # (pgid)


# A ContextVar, not a global: concurrent tasks each journal their own children under their own id.
_SPAWN_OBSERVER: ContextVar[SpawnObserver | None] = ContextVar("launcher_spawn_observer", default=None)


@contextlib.contextmanager
def observing_spawns(observer: SpawnObserver | None) -> Iterator[None]:
    """Report the children started in this context (and the tasks it starts) to `observer`."""
    token = _SPAWN_OBSERVER.set(observer)
    try:
        yield
    finally:
        _SPAWN_OBSERVER.reset(token)


def notify_started(pgid: int, argv: Sequence[str], kind: str) -> SpawnObserver | None:
    observer = _SPAWN_OBSERVER.get()
    if observer is not None:
        observer.started(pgid, argv, kind)
    return observer


def notify_ended(observer: SpawnObserver | None, pgid: int) -> None:
    if observer is not None:
        observer.ended(pgid)
