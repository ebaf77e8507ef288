"""Blame by ctime survives a step of the wall clock.

Who wrote a file found after the fact is told by its ctime, against the spans in which each
task's code ran. Ctimes are stamped by the kernel from the wall clock, so the spans must be wall
clock too; but when the clock steps back (NTP correcting a fast clock, a VM restored) while a task
runs, its writes are stamped before its span started, at a time another task ran: blame named
that other task alone. A span now takes in any step made while it ran, so a step makes blame
less sure (several suspects: it names none), never wrong."""

from __future__ import annotations

import pytest

from launcher.app.run.blame import writer
from launcher.engine import idle_trees
from launcher.engine.idle_trees import IdleTrees


class Clock:
    """A monotonic clock and a wall clock that can be stepped."""

    def __init__(self) -> None:
        self.mono, self.step = 1000.0, 1_700_000_000.0 - 1000.0

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.mono + self.step

    def wait(self, seconds: float) -> None:
        self.mono += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(idle_trees, "time", fake)
    return fake


def test_a_write_made_after_the_clock_stepped_back_is_not_blamed_on_the_task_that_ran_at_its_ctime(
        clock: Clock) -> None:
    trees = IdleTrees()
    trees.open_span("early")  # ran for 10 s, long before
    clock.wait(10)
    trees.close_span("early")
    early_end = clock.time()
    clock.wait(100)
    trees.open_span("late")
    clock.wait(5)
    clock.step -= 110  # NTP steps the wall clock back while "late" runs
    clock.wait(1)
    ctime = clock.time()  # "late" writes a file now: the kernel stamps the stepped clock
    assert ctime < early_end  # ... a time at which "early" ran
    clock.wait(2)
    trees.close_span("late")

    found = trees.suspects(ctime, (0.0, clock.time()))
    assert "late" in found  # the writer is never left out
    assert writer(None, found) != "early"  # nor is the other task named alone
    assert writer("late", found) in ("late", "")


def test_a_task_still_running_when_the_clock_stepped_back_is_a_suspect_of_its_new_writes(clock: Clock) -> None:
    trees = IdleTrees()
    trees.open_span("t")
    clock.wait(3)
    clock.step -= 3600  # an hour back, while "t" runs
    ctime = clock.time()

    assert trees.suspects(ctime, (0.0, clock.time())) == {"t"}


def test_without_a_step_blame_stays_as_sharp_as_before(clock: Clock) -> None:
    trees = IdleTrees()
    trees.open_span("a")
    clock.wait(10)
    written_by_a = clock.time()
    trees.close_span("a")
    clock.wait(30)
    trees.open_span("b")
    clock.wait(10)
    written_by_b = clock.time()
    trees.close_span("b")

    assert trees.suspects(written_by_a, (0.0, clock.time())) == {"a"}
    assert trees.suspects(written_by_b, (0.0, clock.time())) == {"b"}
    clock.step += 86_400  # a step forward after both ended changes nothing
    assert trees.suspects(written_by_a, (0.0, clock.time())) == {"a"}
