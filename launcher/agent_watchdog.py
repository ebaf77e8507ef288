"""The watchdog of a supervised agent (`process.supervise`): what ends an agent that has not
exited on its own, looked at every tick: its wall-clock limit, its inactivity (output, and its
adapter's activity probe, e.g. file changes) or its adapter's `give_up`. Time the launcher itself
did not run (Ctrl-Z then `fg`, the machine asleep) is never counted as the agent's inactivity."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from anyio.abc import Process

from launcher.process_groups import terminate_group

# The agents' watchdog looks every _TICK_S. A gap between two of its looks longer than
# _SUSPENDED_GAP_S means the launcher did not run meanwhile (its agents did): it then judges
# nothing for _SETTLE_S, and an agent's inactivity is counted from the resume.
_TICK_S = 0.1
_SUSPENDED_GAP_S = 1.0
_SETTLE_S = 0.5


def _asked(give_up: Callable[[], str | None]) -> str | None:
    """What an adapter's `give_up` says; its own failure never ends (nor breaks) the supervision."""
    try:
        return give_up()
    except Exception:
        return None


@dataclass
class Watchdog:
    """One agent's limits, its latest output (`last_activity`, set by the supervisor's readers)
    and, once `watch` ended it, why: `timed_out`, `stalled` or `gave_up` (the adapter's reason)."""

    start: float
    timeout_s: float | None
    inactivity_s: float | None
    activity_probe: Callable[[], float] | None
    give_up: Callable[[], str | None] | None
    last_activity: float = 0.0
    timed_out: bool = False
    stalled: bool = False
    gave_up: str | None = None

    def __post_init__(self) -> None:
        self.last_activity = self.start

    async def watch(self, proc: Process, grace_s: float) -> None:
        """Until `proc` exits on its own, or one of the limits ends its group."""
        resumed_at = self.start  # the inactivity window starts no sooner than the launcher last ran again
        settle_until = 0.0
        previous = time.monotonic()
        while True:
            await anyio.sleep(_TICK_S)
            if proc.returncode is not None:
                return  # it finished on its own; only its leftover output is being read
            now = time.monotonic()
            if now - previous > _SUSPENDED_GAP_S:
                # The launcher itself did not run (Ctrl-Z then `fg`, the machine asleep, the loop
                # held up): the agent, in a session of its own, worked on meanwhile. That time is
                # not the agent's inactivity: its window restarts now, and nothing is judged until
                # the loop has read the output piled up in the pipes, seen an exit that happened
                # meanwhile, and walked the files again.
                resumed_at = now
                settle_until = now + _SETTLE_S
            previous = now
            if now < settle_until:
                if self.activity_probe is not None:
                    self.activity_probe()  # starts a fresh walk
                continue
            if self.timeout_s is not None and now - self.start > self.timeout_s:
                self.timed_out = True
                break
            if self.inactivity_s is not None:
                latest = max(self.last_activity, resumed_at)
                if self.activity_probe is not None:
                    latest = max(latest, self.activity_probe())
                if now - latest > self.inactivity_s:
                    self.stalled = True
                    break
            if self.give_up is not None and (reason := _asked(self.give_up)):
                self.gave_up = reason
                break
        await terminate_group(proc.pid, grace_s)
