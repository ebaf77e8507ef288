"""An idle task's worktree changed by another task's code: put back and blamed, or its loss said.

engine/idle_trees.py finds the change (`IdleTrees.changes`) and puts the tree back
(`IdleTrees.restore`: files, HEAD, branch, the worktree itself at its path); here the writer is
named: the one task whose code ran while the tree was idle fails (`ctx.intruders`). When the
tree's branch and recorded commit are both gone, the idle task fails itself, its work lost:
never reported approved or merged for commits that do not exist.
"""

from __future__ import annotations

import time

from launcher.app.context import RunContext
from launcher.app.run import other_runs
from launcher.engine import idle_trees
from launcher.errors import LauncherError
from launcher.models.states import TaskState
from launcher.store.files import unused_path, utc_stamp


class IdleWorkLost(LauncherError):
    default_key = "idle_work_lost"


def idle_head_ref(run_id: str, task_id: str) -> str:
    """Where an idle task's recorded commit is also kept (engine/idle_trees.py `IdleTrees.record`)."""
    return f"refs/launcher/{run_id}/{task_id}/idle-head"


def _listed(changed: list[str]) -> str:
    return ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")


async def undo_idle_change(ctx: RunContext, victim: str, changed: list[str], its_grader_ran: bool = False) -> bool:
    """Put back a changed idle worktree, blaming the one task active since it was recorded;
    `its_grader_ran`: the victim's own grader ran meanwhile (the only suspect when no other
    task's code did). False: it could not be put back (its worktree or branch was deleted and
    its commit with it): the victim has failed, its work lost."""
    record = ctx.idle_trees.records[victim]
    suspects = sorted(record.witnesses | other_runs.suspects(ctx, [None], (record.recorded_at, time.time())))
    what = _listed(changed)
    # What the tree holds that its record does not is copied aside first: another task's write,
    # or an edit of yours made there meanwhile (the launcher cannot tell them apart).
    aside = unused_path(ctx.files.task_dir(victim) / "intrusions", f"idle-{utc_stamp()}")
    try:
        kept = await ctx.idle_trees.restore(ctx.repo, victim, aside)
    except idle_trees.IdleWorkLost:
        del ctx.idle_trees.records[victim]
        ctx.transition(victim, TaskState.FAILED, lost_message(ctx, victim, changed))
        _blame_idle_writer(ctx, victim, what, suspects, "the task's work is lost")
        return False
    copied = (f"; what was there ({_listed(kept)}) is kept in {aside}: the writer's version, or an edit of yours "
              "made there meanwhile (the launcher cannot tell them apart)") if kept else ""
    if its_grader_ran and not suspects:
        ctx.note(victim, f"its grader changed the task's worktree or branch ({what}); put back at the graded "
                         f"commit, which is what lands{copied}")
        return True
    ctx.note(victim, f"its worktree changed while its agent was not running ({what}); put back{copied}")
    _blame_idle_writer(ctx, victim, what, suspects, "the launcher put that worktree back")
    return True


def lost_message(ctx: RunContext, victim: str, changed: list[str]) -> str:
    row = ctx.journal.task(ctx.run_id, victim)
    return (f"its worktree or branch was deleted while its agent was not running ({_listed(changed)}), and "
            f"its commit {(row.head_sha or '')[:12]} with it (pruned): the task's work is lost")


def _blame_idle_writer(ctx: RunContext, victim: str, what: str, suspects: list[str], outcome: str) -> None:
    """Fail the one task that was active while `victim` was idle (`ctx.intruders`), or say why none is."""
    if len(suspects) == 1 and not other_runs.is_other_run(suspects[0]):
        ctx.intruders.setdefault(
            suspects[0], f"wrote into the worktree of task {victim} while its agent was not running "
            f"({what}); {outcome}",
        )
    elif suspects:
        ctx.note(victim, f"cannot tell which of {', '.join(suspects)} changed it")
    else:
        ctx.note(victim, "no other task's agent ran while it was idle: not made by an agent of this run "
                         "that the launcher can name")


async def drop_redundant_keep_refs(ctx: RunContext) -> None:
    """At the run's end no agent runs: a keep ref at the very commit its task branch points at (a
    conflicted or failed task's kept branch) protects nothing any more, and goes. One listing of
    both, no ancestry questions; a keep ref its branch moved past stays for `launcher clean`."""
    listed = await ctx.repo.git("for-each-ref", "--format=%(refname) %(objectname)",
                                f"refs/launcher/{ctx.run_id}/", f"refs/heads/launcher/{ctx.run_id}/")
    at = dict(line.rsplit(" ", 1) for line in listed.out.splitlines() if " " in line)
    for row in ctx.journal.tasks(ctx.run_id):
        ref = idle_head_ref(ctx.run_id, row.task_id)
        if row.branch and ref in at and at.get(f"refs/heads/{row.branch}") == at[ref]:
            async with ctx.repo.lock.hold():
                await ctx.repo.git("update-ref", "-d", ref, at[ref], check=False)
