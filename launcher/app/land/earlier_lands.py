"""`land --from` after an earlier `land --from` of the same exports was killed (kill -9) while a
task's round ran in this clone (a culprit's revision, a conflict's resolution).

The earlier land's agent may still run: its launcher is dead, its processes are not. This land
takes the task's branch and the worktree that holds it over (`held`), and its own round of the
task would run in that worktree beside the orphan, whose edits would be committed and landed as
this round's work. So that earlier run is taken over first, as `resume` would: its processes are
killed and its uncommitted work in the worktree is saved under a kept ref
(`refs/launcher/<run>/<task>/interrupted-<time>`), never committed by another round.
"""

from __future__ import annotations

from pathlib import Path

from launcher.app.takeover import take_over
from launcher.git.repo import GitRepo
from launcher.store.journal import Journal
from launcher.store.run_claim import RunBusy

LOOKED_AT = 200  # the latest runs of this clone's journal (as `_moved_by_earlier_land` reads them)


async def take_over_earlier_lands(repo: GitRepo, journal: Journal, root: Path, branches: set[str]) -> list[str]:
    """Each earlier `land --from` run whose dead launcher left a worktree holding one of
    `branches`, taken over (its processes killed, uncommitted work saved); one line each."""
    done: list[str] = []
    for run in journal.runs(limit=LOOKED_AT):
        if "from" not in run.settings or not any(
                row.branch in branches and row.worktree for row in journal.tasks(run.id)):
            continue
        try:
            claim = journal.claim_run(run.id, "land")
        except RunBusy:  # its launcher is alive (another landing of other exports): not ours to stop
            continue
        try:
            done += await take_over(repo, journal, root, claim, save=True)
        finally:
            journal.release_run(claim)
    return done
