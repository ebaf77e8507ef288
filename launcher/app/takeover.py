"""Taking a run over from a launcher that died (kill -9, crash): what every command that claims
such a run does first (`resume`, `land`, `choose`, `grade`, `clean`, a workflow's phase).

The dead launcher's processes (agents, checks, setup, graders, integration checks) may still
run in the run's worktrees: they are killed before anything is measured, graded, landed or
removed there. Commands that do not run the task's round again themselves (`land`, `choose`,
`grade`, `clean`) then save the uncommitted work in each task worktree, as `resume` saves an
interrupted agent's: `refs/launcher/<run>/<task>/interrupted-<time>`, a stash commit that is kept.
"""

from __future__ import annotations

import time
from pathlib import Path

from launcher.app.run.contract_dir import remove_leftovers
from launcher.engine.orphans import reap_journaled
from launcher.errors import GitFailed, GitTimedOut
from launcher.git import commits, worktrees
from launcher.git.ref_updates import unused_ref
from launcher.git.repo import GitRepo
from launcher.models.states import RunStatus
from launcher.store.journal import Journal
from launcher.store.run_claim import Claim


def left_by_dead_launcher(journal: Journal, claim: Claim) -> bool:
    """Whether the launcher that drove the run before this claim died while driving it (the
    claim succeeded, so a `running` holder is gone) or left processes the journal records."""
    return (claim.previous_status in (RunStatus.RUNNING, RunStatus.INTERRUPTED)
            or bool(journal.live_processes(claim.run_id)))


async def take_over(repo: GitRepo, journal: Journal, root: Path, claim: Claim, *, save: bool) -> list[str]:
    """Kill what the run's dead launcher left running and, with `save`, save the uncommitted
    work in the run's task worktrees (`resume` saves it per task when it re-runs the round).
    Returns what was done, one line each; nothing when the previous launcher ended cleanly."""
    if not left_by_dead_launcher(journal, claim):
        return []
    rid, done = claim.run_id, []
    done += reap(journal, rid)
    done += remove_leftovers(journal, rid)  # its agents are gone: no attempt writes there any more
    if save:
        done += await save_uncommitted(repo, root, journal, rid)
    return done


def reap(journal: Journal, run_id: str) -> list[str]:
    """Kill every live process of the run's journaled groups (its launcher is dead)."""
    pgids = {row.agent_pgid for row in journal.tasks(run_id) if row.agent_pgid}
    killed = reap_journaled(journal, run_id, pgids)
    if not killed:
        return []
    return [f"killed {len(killed)} orphaned process(es) of run {run_id}'s dead launcher (pid "
            f"{', '.join(map(str, sorted(killed)))}: agents, checks, setup, graders or integration checks)"]


async def save_uncommitted(repo: GitRepo, root: Path, journal: Journal, run_id: str) -> list[str]:
    """The uncommitted changes in each of the run's task worktrees (an agent's, finished or cut
    short after its launcher died; an edit made there by hand), saved as `resume` saves an
    interrupted agent's: `refs/launcher/<run>/<task>/interrupted-<time>`, a stash commit that
    `branches_to_keep` keeps. What git cannot save this way stays in its worktree. Scratch trees
    (integration checks, grading) hold no task's work and are not saved."""
    tasks = {row.task_id for row in journal.tasks(run_id)}
    saved = []
    for info in await worktrees.list_worktrees(repo):
        by_branch = (info.branch or "").removeprefix(f"{worktrees.BRANCH_PREFIX}/{run_id}/")
        task_id = by_branch if info.branch and by_branch in tasks else info.path.name
        if info.prunable or task_id not in tasks or not (
                info.branch == worktrees.branch_name(run_id, task_id)
                or info.path.resolve() == (root / run_id / task_id).resolve()):
            continue
        if not info.path.is_dir() or not worktrees.is_populated(info.path):
            continue  # registered and never filled: nothing of an agent's in it
        ref = await unused_ref(
            repo, f"refs/{worktrees.BRANCH_PREFIX}/{run_id}/{task_id}/interrupted-{int(time.time())}")
        try:
            stash = await commits.rescue_uncommitted(repo, info.path, ref)
        except GitTimedOut:
            raise  # git was stopped at its time limit: the work is not saved, and the tree must stay as it is
        except GitFailed:
            continue  # git cannot save it (an embedded repository without a commit): the tree is kept
        if stash:
            saved.append(f"saved the uncommitted work in {info.path} (task {task_id}) as {ref}; "
                         f"`git stash apply {ref}` brings it back")
    return saved
