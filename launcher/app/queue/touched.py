"""What each running task has touched so far, for the conflict matrix's predictions (`status`).

Finding it means a look at the whole worktree (`git status`): done by `status` itself, that was
(tasks at work) x (a status of the whole repository) per `launcher status`: a minute on a big
monorepo. So the launcher driving the run records it instead, in the background, one tree at a
time: a tree running for FIRST_AFTER_S first, then the one looked at longest ago, with pauses
that keep the looks to RECORD_SHARE of the time (a fifth of one core, however many tasks run),
written to the task's `touched.json` when it changed. `status` of a run a live launcher drives
reads those records (a tree not looked at yet counts its earlier rounds' files, the journal's)
and looks itself, a few trees at once, only at the running trees of a run nobody drives (their
agents are gone, so that look is exact). Tasks past their agent's round have their work
committed: the journal's files are theirs, no look needed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from launcher import process_identity
from launcher.concurrency import each
from launcher.errors import LauncherError
from launcher.git import conflict_matrix
from launcher.git.repo import GitRepo
from launcher.models.states import TaskState
from launcher.regular_files import read_json_or_none
from launcher.store.files import atomic_write_json
from launcher.store.journal import Journal, TaskRow

RECORD = "touched.json"
RECORD_SHARE = 0.2  # of the time, at most, spent looking at running trees
FIRST_AFTER_S = 2.0  # a tree running this long is looked at (a short round never is)
EVERY_MIN_S = 5.0  # a tree is looked at again no sooner than this
POLL_S = 1.0  # how often the recorder looks for a newly running tree
SCAN_PARALLEL = 4  # trees `status` looks at itself at once


def _running(rows: list[TaskRow]) -> list[TaskRow]:
    return [r for r in rows if r.state is TaskState.RUNNING and r.worktree and Path(r.worktree).is_dir()]


async def record_running(repo: GitRepo, journal: Journal, run_id: str, run_dir: Path, base_sha: str,
                         note: Callable[[str], None] = lambda _message: None) -> None:
    """Keep each running task's `touched.json` current until cancelled (the run's end): one tree
    looked at a time, a tree running for FIRST_AFTER_S not looked at yet first, then the one
    looked at longest ago (not again within EVERY_MIN_S), and after each look a pause that
    keeps the looks to RECORD_SHARE of the time.

    Advisory: an error here (a busy journal, a tree deleted under the look, an odd file name)
    never ends the run it runs alongside. The first one is told through `note`; the recorder
    keeps going (the next look may well succeed) and says nothing more."""
    me = {"pid": os.getpid(), "started": process_identity.start_time(os.getpid())}
    state = _Recorder(repo, journal, run_id, run_dir, base_sha, me)
    told = False
    while True:
        try:
            pause = await state.look_once()
        except Exception as exc:  # cancellation is not an Exception: the run's end still stops it
            if not told:
                told = True
                with contextlib.suppress(Exception):  # telling is advisory too
                    note(f"`status` conflict predictions may be stale for run {run_id}: recording what "
                         f"running tasks touched failed ({type(exc).__name__}: {exc}); the run is not "
                         "affected, the recorder keeps trying")
            pause = POLL_S
        await anyio.sleep(pause)


class _Recorder:
    """What `record_running` remembers between looks."""

    def __init__(self, repo: GitRepo, journal: Journal, run_id: str, run_dir: Path, base_sha: str,
                 me: dict[str, Any]) -> None:
        self.repo, self.journal, self.run_id, self.run_dir, self.base_sha, self.me = (
            repo, journal, run_id, run_dir, base_sha, me)
        self.seen: dict[tuple[str, str, int], float] = {}  # (task, worktree, round) -> first seen running
        self.looked: dict[tuple[str, str, int], float] = {}  # -> when last looked at
        self.written: dict[str, dict[str, Any]] = {}

    async def look_once(self) -> float:
        """Look at the tree most due, if any, record what it touched; the pause before the next."""
        now = time.monotonic()
        due: list[tuple[float, tuple[str, str, int], str | None]] = []
        for task_id, worktree, start_sha, iteration in self.journal.running_trees(self.run_id):
            key = (task_id, worktree, iteration)
            first = self.seen.setdefault(key, now)
            if key not in self.looked and now - first >= FIRST_AFTER_S:
                due.append((-1.0, key, start_sha))  # never looked at: first
            elif key in self.looked and now - self.looked[key] >= EVERY_MIN_S:
                due.append((self.looked[key], key, start_sha))
        if not due:
            return POLL_S
        _, key, start_sha = min(due, key=lambda item: item[0])
        task_id, worktree, iteration = key
        began = time.monotonic()
        self.looked[key] = began  # an error in the look does not make it the most due again at once
        try:
            files = await conflict_matrix.touched_files(self.repo, Path(worktree), start_sha or self.base_sha)
        except LauncherError:
            files = None  # the tree went meanwhile (the round ended): the next look, or none
        took = time.monotonic() - began
        self.looked[key] = time.monotonic()
        record = {**self.me, "worktree": worktree, "start_sha": start_sha, "iteration": iteration, "files": files}
        if files is not None and self.written.get(task_id) != record:
            try:
                atomic_write_json(self.run_dir / task_id / RECORD, record)
                self.written[task_id] = record
            except OSError:
                pass  # a prediction is not worth failing the run for (a full disk stops it elsewhere)
        return max(POLL_S / 10, took * (1 / RECORD_SHARE - 1))


def _recorded(run_dir: Path, row: TaskRow) -> list[str] | None:
    """The files `row`'s record names, when a live launcher wrote it for its worktree and start."""
    data: Any = read_json_or_none(run_dir / row.task_id / RECORD)  # in the agent's reach: read as data only
    if not isinstance(data, dict) or [data.get(key) for key in ("worktree", "start_sha", "iteration")] != [
            row.worktree, row.start_sha, row.iteration]:
        return None
    pid, started, files = data.get("pid"), data.get("started"), data.get("files")
    if not isinstance(pid, int) or not isinstance(started, int | None) or not isinstance(files, list):
        return None
    if not process_identity.alive(pid, started):
        return None
    return [f for f in files if isinstance(f, str)]


async def at_work(repo: GitRepo, rows: list[TaskRow], base_sha: str, run_dir: Path | None,
                  watched: bool) -> dict[str, list[str]]:
    """Task id -> the files it has touched so far, for each of `rows` (tasks at work): the
    journal's files (committed work), and for a running one what its tree holds besides: the
    driving launcher's record when `watched` (a live launcher drives the run), else a look at
    the tree now."""
    touched = {r.task_id: list(r.files) for r in rows}
    unseen: list[TaskRow] = []
    for row in _running(rows):
        found = _recorded(run_dir, row) if run_dir is not None and watched else None
        if found is not None:
            touched[row.task_id] = sorted({*touched[row.task_id], *found})
        elif not watched:
            unseen.append(row)

    async def look(row: TaskRow) -> None:
        assert row.worktree is not None
        found = await conflict_matrix.touched_files(repo, Path(row.worktree), row.start_sha or base_sha)
        touched[row.task_id] = sorted({*touched[row.task_id], *found})

    await each(unseen, look, SCAN_PARALLEL)
    return touched
