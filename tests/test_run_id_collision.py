"""Two runs (or two sweeps) started in the same second can draw the same id: the second one
draws again and both are recorded, instead of an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.app.run import runner
from launcher.models.states import RunStatus, TaskState
from launcher.store.journal import Journal
from launcher.store.mutants import MutantStore
from tests.helpers import run_shell


def _first_draw_collides(taken: str, fresh: object) -> object:
    calls: list[int] = []

    def draw(*args: object) -> object:
        calls.append(1)
        return taken if len(calls) == 1 else fresh(*args)  # type: ignore[operator]

    return draw


def test_a_second_run_that_draws_a_taken_id_is_recorded_under_another(repo: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_shell(repo, "echo one > one.txt", "t1")
    assert first.status == RunStatus.SUCCEEDED
    monkeypatch.setattr(runner, "new_run_id", _first_draw_collides(first.run_id, runner.new_run_id))

    second = run_shell(repo, "echo two > two.txt", "t2")

    assert second.status == RunStatus.SUCCEEDED
    assert second.run_id != first.run_id
    journal = Journal(repo / ".launcher" / "launcher.db")
    assert [t.task_id for t in journal.tasks(first.run_id)] == ["t1"]  # the first run's record is untouched
    assert [(t.task_id, t.state) for t in journal.tasks(second.run_id)] == [("t2", TaskState.MERGED)]
    assert (repo / "one.txt").exists() and (repo / "two.txt").exists()


def test_a_sweep_that_draws_a_taken_id_is_recorded_under_another(tmp_path: Path) -> None:
    store = MutantStore(tmp_path / "mutants.db")
    draws = iter(["m-same", "m-same", "m-other"])
    first = store.create_sweep(lambda: next(draws), repo="r", base_sha="b", options_key="k", options={})
    second = store.create_sweep(lambda: next(draws), repo="r", base_sha="b", options_key="k", options={})
    assert (first, second) == ("m-same", "m-other")
    assert store.sweep("m-same").id == "m-same" and store.sweep("m-other").id == "m-other"
