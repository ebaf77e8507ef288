""""The latest run" (and the latest sweep, workflow, note order) is the one started last, as the
journal recorded it, whatever the wall clock read: a clock running an hour fast that NTP then
corrects stamps the earlier run *later* than the one started after it. `launcher land` / `status`
/ `resume` / `clean` with no id act on the latest run: by the stamps they acted on the older run
(and `land` landed its work)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from launcher.app.mutation import reports
from launcher.models.workflow import WorkflowState
from launcher.mutation.merge import MUTANTS_FILE
from launcher.store import mutants as store_mod
from launcher.store.journal import Journal
from launcher.store.mutants import MutantStore
from launcher.store.workflows import WorkflowStore

HOUR = 3600.0


@pytest.fixture
def fast_clock(monkeypatch: pytest.MonkeyPatch):
    """`with fast_clock():` runs its block with the wall clock one hour fast."""
    real = time.time

    class _Fast:
        def __enter__(self) -> None:
            monkeypatch.setattr(time, "time", lambda: real() + HOUR)

        def __exit__(self, *exc: object) -> None:
            monkeypatch.setattr(time, "time", real)

    return _Fast


def _ids(prefix: str):
    counter = itertools.count()
    return lambda: f"{prefix}-{next(counter)}"


def _new_run(journal: Journal, run_id: str) -> str:
    return journal.create_run(lambda: run_id, repo="/r", base_sha="0" * 40, target="main",
                              plan={"task": [{"id": "t"}]}, settings={}, task_ids=["t"], launcher_pid=1)


def test_the_latest_run_is_the_one_started_last_even_when_the_clock_stepped_back(tmp_path: Path, fast_clock) -> None:
    journal = Journal(tmp_path / "launcher.db")
    with fast_clock():
        first = _new_run(journal, "r-first")
    second = _new_run(journal, "r-second")  # the clock was set right in between: stamped earlier
    assert journal.run(first).created_at > journal.run(second).created_at
    assert journal.latest_run_id() == second
    assert [r.id for r in journal.runs()] == [second, first]
    assert [r.id for r in journal.runs(limit=1)] == [second]  # `runs --limit 1` never leaves it out


def test_a_runs_notes_are_listed_in_the_order_they_were_written(tmp_path: Path, fast_clock) -> None:
    journal = Journal(tmp_path / "launcher.db")
    run_id = _new_run(journal, "r-1")
    with fast_clock():
        journal.add_note(run_id, None, "written first")
    journal.add_note(run_id, None, "written second")
    assert [n["message"] for n in journal.notes(run_id)] == ["written first", "written second"]


def test_the_latest_sweeps_and_the_resumable_sweep_follow_the_order_they_were_started(
        tmp_path: Path, fast_clock) -> None:
    store = MutantStore(tmp_path / "launcher.db")
    draw = _ids("m")
    key = {"repo": "/r", "base_sha": "0" * 40, "options_key": "k"}
    with fast_clock():
        first = store.create_sweep(draw, options={}, **key)
    second = store.create_sweep(draw, options={}, **key)
    for sweep_id in (first, second):
        store.set_sweep(sweep_id, status=store_mod.INTERRUPTED)
    assert [s.id for s in store.sweeps()] == [second, first]
    assert store.find_resumable(**key) == second


def test_workflows_are_listed_the_one_created_last_first(tmp_path: Path, fast_clock) -> None:
    store = WorkflowStore(tmp_path / "launcher.db")
    with fast_clock():
        store.insert(WorkflowState(id="w-first", template="t"), lambda _s: None)
    store.insert(WorkflowState(id="w-second", template="t"), lambda _s: None)
    assert [w.id for w in store.all()] == ["w-second", "w-first"]


def test_the_latest_mutation_run_dir_is_the_sweep_the_store_started_last(tmp_path: Path) -> None:
    root = tmp_path / "mutation-runs"
    # the first sweep ran with the clock an hour fast: its id carries the later stamp
    for name in ("m-20261207-004640-aaaa", "m-20261206-234644-bbbb"):
        (root / name).mkdir(parents=True)
        (root / name / MUTANTS_FILE).write_text("{}")
    (root / "20261206-120000").mkdir()  # a dir no store knows: placed by its stamp
    (root / "20261206-120000" / MUTANTS_FILE).write_text("{}")
    started = ["m-20261206-234644-bbbb", "m-20261207-004640-aaaa"]  # the store's order, last first
    assert [d.name for d in reports._run_dirs(root, started)] == [
        "m-20261206-234644-bbbb", "m-20261207-004640-aaaa", "20261206-120000"]
