"""A zombie that led its own group and was collected by whoever started it while the reaper
looked (an own child of the launcher: untracked once collected) is no orphan: the reaper does
not read the costly list of every Python object for it. A zombie leader still there is still
judged by that list (an own child is never collected here; an orphan is)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from helpers import linux_children_listed

from launcher import process
from launcher.engine import reaper

pytestmark = linux_children_listed()


def _exited_leader() -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    deadline = time.monotonic() + 10
    while (stat := reaper.proc_stat(child.pid)) is not None and stat[0] != b"Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    return child


def test_a_leader_collected_meanwhile_costs_no_look_at_every_object(monkeypatch: pytest.MonkeyPatch) -> None:
    child = _exited_leader()
    real_not_tracked = reaper._not_tracked
    looks: list[int] = []
    real_own = process.own_children

    def owner_collects_meanwhile(found, groups=True):  # type: ignore[no-untyped-def]
        kept = real_not_tracked(found, groups=groups)
        child.wait()  # its owner collects it between the list of zombies and the recheck
        return kept

    def counted_own() -> set[int] | None:
        looks.append(1)
        return real_own()

    monkeypatch.setattr(reaper, "_not_tracked", owner_collects_meanwhile)
    monkeypatch.setattr(process, "own_children", counted_own)
    assert reaper.reap_orphan_zombies() == 0
    assert looks == []
    assert child.returncode == 0  # collected by its owner, not stolen by the reaper


def test_a_zombie_own_child_still_there_is_looked_up_and_left_to_its_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    child = _exited_leader()
    looks: list[int] = []
    real_own = process.own_children

    def counted_own() -> set[int] | None:
        looks.append(1)
        return real_own()

    monkeypatch.setattr(process, "own_children", counted_own)
    try:
        assert reaper.reap_orphan_zombies() == 0
        assert looks == [1]
        assert reaper.proc_stat(child.pid) is not None  # still a zombie, for its owner to collect
    finally:
        assert child.wait(5) == 0
