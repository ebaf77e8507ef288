"""Many tasks' rounds ending together are swept together: each task still gets exactly the
escaped processes that carry its variables, killed and reaped, and the requests made while a
sweep runs share the next one instead of each waiting for all the others."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from helpers import ORPHAN_MAKER, linux_children_listed

from launcher.engine import reaper

pytestmark = linux_children_listed()


def _orphan(run_id: str, task_id: str) -> int:
    env = {**os.environ, "LAUNCHER_RUN_ID": run_id, "LAUNCHER_TASK_ID": task_id}
    made = subprocess.run([sys.executable, "-c", ORPHAN_MAKER], env=env, capture_output=True, text=True, check=True)
    return int(made.stdout.split()[0])


def test_tasks_swept_together_each_get_their_own_escaped_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    if not reaper.become_subreaper():
        pytest.skip("no child subreaper here")
    run_id = f"reaper-batch-{os.getpid()}"
    tasks = [f"t{i}" for i in range(6)]
    orphans = {t: _orphan(run_id, t) for t in tasks}
    other_task = _orphan(run_id, "t-later")  # a task of the run not swept now: reaped after its own round
    served: list[list[str]] = []
    real_serve = reaper._serve

    def counting_serve(run: str, batch: reaper._Batch) -> None:
        served.append(list(batch.requests))
        time.sleep(0.2)  # a slow sweep: the other requests arrive meanwhile
        real_serve(run, batch)

    monkeypatch.setattr(reaper, "_serve", counting_serve)
    try:
        deadline = time.monotonic() + 5
        while not {*orphans.values(), other_task} <= set(reaper._children() or []) and time.monotonic() < deadline:
            time.sleep(0.02)
        results: dict[str, list[int]] = {}

        def sweep(task_id: str) -> None:
            results[task_id] = reaper.reap_escaped(run_id, task_id)

        threads = [threading.Thread(target=sweep, args=(t,)) for t in tasks]
        for thread in threads:
            thread.start()
            time.sleep(0.01)
        for thread in threads:
            thread.join(30)

        assert results == {t: [orphans[t]] for t in tasks}
        assert all(not os.path.exists(f"/proc/{pid}") for pid in orphans.values())  # killed and reaped
        assert os.path.exists(f"/proc/{other_task}")
        assert len(served) < len(tasks)  # requests made during a sweep shared the next one
        assert sorted(t for batch in served for t in batch) == tasks  # each served once
    finally:
        for pid in [*orphans.values(), other_task]:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def test_a_sweep_that_fails_fails_every_request_it_served(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(run_id: str, task_ids: list[str] | None) -> dict[str | None, list[int]]:
        raise OSError("no /proc today")

    monkeypatch.setattr(reaper, "_escaped", broken)
    with pytest.raises(OSError, match="no /proc today"):
        reaper.reap_escaped("reaper-broken", "t1")
