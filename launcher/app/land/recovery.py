"""Finishing a landing a crashed launcher left part-way, and telling whether the run's approved
work really reached the target.

`land_approved` journals the landing's intent (old tip, new tip, the tasks) before any ref
moves, and each step before it runs (`target_tree.StepSink`). On resume the journal and git
together say how far it got: nothing moved (land afresh), the target ref moved (finish the main
work tree, or park, or say what to run), or the result was parked on an integration branch.
"""

from __future__ import annotations

from typing import Any

from launcher.app.context import RunContext, open_journal, state_dir
from launcher.errors import UsageProblem
from launcher.git import target_tree, worktrees
from launcher.git.repo import GitRepo
from launcher.models.config import RepoConfig, config_of_run
from launcher.models.plan import plan_from_journal
from launcher.models.states import RunStatus, TaskState
from launcher.store.journal import Journal
from launcher.store.run_claim import Claim, RunBusy


def journal_steps(ctx: RunContext) -> target_tree.StepSink:
    def step(progress: str, main_tree: bool) -> None:
        ctx.journal.landing_step(ctx.run_id, progress, main_tree=main_tree)

    return step


async def _tip(ctx: RunContext, ref: str) -> str:
    return await _tip_in(ctx.repo, ref)


async def _tip_in(repo: GitRepo, ref: str) -> str:
    found = await repo.git("rev-parse", "--verify", "--quiet", ref, check=False)
    return found.out.strip() if found.ok else ""


async def _contains(ctx: RunContext, where: str, commit: str) -> bool:
    return await _holds(ctx.repo, where, commit)


async def _holds(repo: GitRepo, where: str, commit: str) -> bool:
    if not where:
        return False
    return where == commit or await repo.is_ancestor(commit, where)


async def landing_reached_target(repo: GitRepo, record: dict[str, Any], target: str) -> bool:
    """Whether the target branch already holds the result of a journaled landing (its ref
    moved, or the user's commits were made on top of it), however far the rest of that landing
    got: what `recover_landing` goes by, and what `status` says of a landing left unfinished."""
    return await _holds(repo, await _tip_in(repo, f"refs/heads/{target}"), record["new_tip"])


BY_CHOICE = "approved by a choice at escalation (launcher choose or --on-cap), not by the grader"


def mark_landed(ctx: RunContext, tasks: dict[str, str], where: str, how: str = "") -> None:
    """Tasks whose merge commits reached `where`. Only the target makes them `merged`: work
    parked on an integration branch stays `approved` (its branch and worktree kept), so the
    next landing (`launcher land`, `resume`, a later pass) folds it again with the rest."""
    for task_id, commit in tasks.items():
        row = ctx.journal.task(ctx.run_id, task_id)
        if row.state is TaskState.MERGED:
            continue
        derived = (row.contract or {}).get("source") == "derived"
        note = how + ("; the agent gave no valid contract (derived from git)" if derived else "")
        if not approved_by_grader(ctx, task_id):
            note += f"; {BY_CHOICE}"
        if where == ctx.target:
            ctx.transition(task_id, TaskState.MERGED, f"landed on {where}{note}", merged=True,
                           merge_commit=commit)
        else:
            ctx.transition(task_id, TaskState.APPROVED, f"parked on {where}{note}, not on {ctx.target} "
                           "(see the run's message); `launcher land` lands it", merged=False)


def approved_by_grader(ctx: RunContext, task_id: str) -> bool:
    """False when the task's last grading round did not say `satisfied` (a person or the on-cap
    policy approved it); True too when it was never graded (its checks alone approved it). A
    best-of-N task has its winning attempt's rounds (`best_of.select_best`)."""
    rounds = ctx.journal.rounds(ctx.run_id, task_id)
    return not rounds or rounds[-1]["verdict"] == "satisfied"


def _mark_merged(ctx: RunContext, tasks: dict[str, str], branch: str) -> None:
    mark_landed(ctx, tasks, branch, " (recovered)")
    ctx.journal.set_run(ctx.run_id, landed_on=branch)


async def _parked_on(ctx: RunContext, record: dict[str, str]) -> str | None:
    branches = await worktrees.integration_branches(ctx.repo, ctx.run_id)
    legacy = f"{worktrees.BRANCH_PREFIX}/{ctx.run_id}/{worktrees.LEGACY_INTEGRATION}"
    for branch in [*branches, legacy]:
        if await _contains(ctx, await _tip(ctx, f"refs/heads/{branch}"), record["new_tip"]):
            return branch
    return None


async def recover_landing(ctx: RunContext) -> tuple[bool, str] | None:
    """Finish the journaled landing an earlier launcher did not: None when none moved anything
    (the caller lands afresh), else (the work reached the target, what happened)."""
    record = ctx.journal.landing(ctx.run_id)
    if record is None or record["done"]:
        return None
    new, old = record["new_tip"], record["expected_old"]
    if await landing_reached_target(ctx.repo, record, ctx.target):
        result = target_tree.AdvanceResult(True, ctx.target, f"{ctx.target} is at {new[:12]}")
        if record["main_tree"]:
            result = await target_tree.finish_tree_update(
                ctx.repo, target_branch=ctx.target, old=old, new=new,
                integration_branch=worktrees.integration_branch(ctx.run_id),
                on_step=journal_steps(ctx))
        if result.moved or result.where != ctx.target:  # on the target, or parked: consistent
            _mark_merged(ctx, record["tasks"], result.where)
            ctx.journal.finish_landing(ctx.run_id)
            return result.moved, f"landing recovered from the journal: {result.message}"
        # The target holds the merge but the main work tree could not be brought to it (changed
        # since): not merged yet. The tasks stay approved and the landing unfinished, which
        # `status` shows as `merged: unfinished` (`landing_unfinished`) until this finishes it.
        return False, f"landing left unfinished: {result.message}"
    parked = await _parked_on(ctx, record)
    if parked is None:
        return None
    _mark_merged(ctx, record["tasks"], parked)
    ctx.journal.finish_landing(ctx.run_id)
    return False, (f"landing recovered from the journal: {ctx.target} was not moved and the result "
                   f"is on {parked} ({new[:12]}); merge it with `git merge --ff-only {parked}` "
                   f"on {ctx.target}")


async def unlanded_work(ctx: RunContext) -> str | None:
    """Why approved work of this run is still off the target (None when all of it is on it): an
    integration branch holding commits the target lacks, or a landing left unfinished. Parked
    work stays `approved` and every landing folds it again: once no task is approved, an
    integration branch is only an earlier fold a later landing replaced, never work to merge."""
    record = ctx.journal.landing(ctx.run_id)
    if record is not None and not record["done"]:
        return "a landing was left unfinished: `launcher resume` finishes it or says what to run"
    if not any(row.state is TaskState.APPROVED for row in ctx.journal.tasks(ctx.run_id)):
        return None
    tip = await _tip(ctx, f"refs/heads/{ctx.target}")
    branches = await worktrees.integration_branches(ctx.repo, ctx.run_id)
    run = ctx.journal.run(ctx.run_id)
    legacy = f"{worktrees.BRANCH_PREFIX}/{ctx.run_id}/{worktrees.LEGACY_INTEGRATION}"
    if run.landed_on == legacy:
        branches.append(legacy)
    for branch in reversed(branches):  # the latest holds the most: each landing folds all approved work
        held = await _tip(ctx, f"refs/heads/{branch}")
        if held and (not tip or not await target_tree.adds_nothing(ctx.repo, held, tip)):
            return (f"approved work is on {branch} ({held[:12]}), not on {ctx.target}: "
                    f"merge it with `git merge {branch}` on {ctx.target}")
    if branches and run.landed_on != ctx.target:
        ctx.journal.set_run(ctx.run_id, landed_on=ctx.target)  # the user merged it since
    return None


async def _staged(repo: GitRepo) -> bool:
    """Whether the main work tree's index differs from its HEAD (a killed landing leaves the
    target's new tip checked out with the old tree staged: a commit would revert the landing)."""
    return not (await repo.git("diff-index", "--cached", "--quiet", "HEAD", "--", check=False)).ok


async def finish_earlier_landings(repo: GitRepo, config: RepoConfig, *, this_run: str | None = None) -> list[str]:
    """Finish the landing another run's launcher left half-done (killed after it moved the target
    ref, before the main work tree followed), before this command does anything: otherwise it
    would work on a tree behind its target, whose staged changes revert the landed work. Returns
    what was finished; raises when one cannot be finished here and the main work tree still has
    the stale index staged (the message says what to run).
    A run whose launcher is alive is landing now (its compare-and-swap guards the target)."""
    if not (state_dir(repo) / "launcher.db").exists():
        return []
    journal = open_journal(repo)
    notes = []
    for run_id in journal.unfinished_landings():
        if run_id == this_run:
            continue
        try:  # claimed while it is finished: its own launcher, alive, is landing it now
            claim = journal.claim_run(run_id, "resume")
        except RunBusy:
            continue
        try:
            note = await _finish_landing_of(repo, config, journal, claim)
        finally:
            journal.release_run(claim)
        if note:
            notes.append(note)
    return notes


async def recover_claimed_landing(repo: GitRepo, config: RepoConfig, journal: Journal,
                                  claim: Claim) -> tuple[bool, str] | None:
    """`recover_landing` for a run this process has claimed but does not drive (no RunContext
    of its own): another run's launcher, or `launcher workflow cancel` ending a phase's run."""
    run_id = claim.run_id
    run = journal.run(run_id)
    config = config_of_run(run.settings, repo.root)[0] if "config" in run.settings else config
    ctx = RunContext(
        repo=repo, journal=journal, run_id=run_id, plan=plan_from_journal(run.plan, run_id),
        config=config, base_sha=run.base_sha, target=run.target,
        worktree_root=worktrees.default_worktree_root(repo, config.worktree_root),
        emit=lambda _event: None, merge=bool(run.settings.get("merge", True)),
    )
    return await recover_landing(ctx)


async def _finish_landing_of(repo: GitRepo, config: RepoConfig, journal: Journal, claim: Claim) -> str | None:
    run_id = claim.run_id
    run = journal.run(run_id)
    recovered = await recover_claimed_landing(repo, config, journal, claim)
    if recovered is None:  # nothing of it moved: nothing is half-done
        return None
    record = journal.landing(run_id)
    _, message = recovered
    if record is not None and not record["done"] and not await _staged(repo):
        # Someone settled the main work tree since (committed, reset): nothing stale is left
        # in it for this command to trip on. Refusing would wedge every later command.
        return (f"run {run_id} left its landing into {run.target} unfinished and the main work "
                f"tree changed since: {message} (`launcher resume {run_id}` says what it needs)")
    if record is None or not record["done"]:
        raise UsageProblem(
            f"run {run_id} left its landing into {run.target} unfinished (its launcher was stopped) "
            f"and it cannot be finished here: {message}", where=str(repo.root),
            error_key="usage:unfinished_landing",
            fix=f"do what the message says, then `launcher resume {run_id}`; then run this command again")
    if claim.previous_status is RunStatus.RUNNING:  # its launcher died with it
        journal.set_run(run_id, status=RunStatus.INTERRUPTED)
    journal.set_run(run_id, message=f"{message}; `launcher resume {run_id}` settles the rest of the run")
    return f"finished the landing run {run_id} left unfinished: {message}"
