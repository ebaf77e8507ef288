"""The shared git dir and refs, checked where code the launcher runs is not an agent round.

A task's checks and the run's integration check run agent-written code too: after them the
shared git directory (hooks, config, attributes, in-progress state: git/guard.py) and the refs
(git/ref_guard.py) are put back as after an agent round (app/run/containment.py). They are put
back once more right before a landing moves the target (under the repository lock the landing
holds: its `read-tree` in the main checkout never runs a filter, hook or attribute the run did
not start with, and its "being rebased" check never trusts an agent's `rebase-merge/`), and at
the run's end (what a process that escaped its group changed after the last round).

Blame follows the README's known limits: the task whose checks ran is failed when only its code
ran then; an integration check runs the code of its whole batch, so a change it makes fails
that check run only when the batch is one task (nothing else ran), and is otherwise put back
and said in a note, failing none.
"""

from __future__ import annotations

import time

from launcher.app.context import RunContext
from launcher.app.run import blame, containment, ref_watch, user_git
from launcher.errors import LauncherError
from launcher.git import guard


def checks_start(ctx: RunContext, task_id: str) -> None:
    """The task's checks are about to run its code: a ref moved meanwhile is its doing."""
    ctx.agents_running.add(task_id)
    ctx.agents_seen.add(task_id)


async def after_checks(ctx: RunContext, task_id: str) -> LauncherError | None:
    """The task's checks ran its code: what they left running is killed, what they changed in
    the shared git dir or refs is put back; the error for the task when its code alone ran."""
    await containment.reap(ctx, task_id)
    error: LauncherError | None = None
    try:
        await containment._undo_git_dir_changes(ctx, task_id, "the checks")
    except guard.GitDirTampered as exc:
        error = exc
    finally:
        ctx.agents_running.discard(task_id)
    moved = await ref_watch.check_refs(ctx, task_id, "the checks")
    return error or moved


async def batch_of(ctx: RunContext, commit: str) -> frozenset[str]:
    """The tasks of this run whose work `commit` (a fold of the landing) adds to the target."""
    tip = await ctx.repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{ctx.target}^{{commit}}", check=False)
    listed = await ctx.repo.git(
        "log",
        "--format=%(trailers:key=Launcher-Run,valueonly,separator=%x2C)%x09"
        "%(trailers:key=Launcher-Task,valueonly,separator=%x2C)",
        commit,
        "--not",
        tip.out.strip() if tip.ok and tip.out.strip() else ctx.base_sha,
        check=False,
    )
    found: set[str] = set()
    for line in listed.out.splitlines():
        run, _, tasks = line.partition("\t")
        if ctx.run_id in run.split(","):
            found |= {t.strip() for t in tasks.split(",") if t.strip()}
    return frozenset(found & {t.id for t in ctx.plan.tasks})


async def after_integration_check(ctx: RunContext, since: float, commit: str) -> str | None:
    """The integration check ran the code folded into `commit`: its changes to the shared git dir
    and refs are put back. Why this check run fails (the batch is one task and no other code ran
    meanwhile), or None: changes made while several tasks' code was in the check are put back
    and noted, failing none of them."""
    await containment.reap(ctx)
    batch = await batch_of(ctx, commit)
    alone = next(iter(batch)) if len(batch) == 1 else None
    undone = await containment.put_back_git_dir(ctx)
    said: list[str] = []
    if undone is not None:
        listed, times = undone
        others = blame.suspects(ctx, times, (since, time.time()))
        what = f"the integration check changed the repository's shared git directory ({listed}); put back"
        if alone is not None and not others:
            said.append(what)
        else:
            ctx.note(
                None,
                f"{what}; it ran the code of {', '.join(sorted(batch | others)) or 'no task'}: "
                "cannot tell whose, none is failed for it",
            )
    moved = await ref_watch.check_refs(ctx, alone, "the integration check", ran=batch)
    if moved is not None:
        said.append(moved.what)
    if not said:
        return None
    return f"{'; '.join(said)} (task {alone}'s code alone ran in it)"


async def settle(ctx: RunContext, when: str, locked: bool = False) -> None:
    """Put the shared git dir and refs back `when` no task's code runs (before a landing, at the
    run's end): a change found now was made after the last round or check ended (a process that
    escaped them, or the user), so it is said in a note, not blamed. `locked`: the caller holds
    the repository lock (the landing's, right before it moves the target). A `git pull --rebase`
    of the user's still at work in the main checkout is waited for first (app/run/user_git.py)."""
    await user_git.wait_for_users_git(ctx)
    undone = await containment.put_back_git_dir(ctx, locked=locked)
    if undone is not None:
        listed, times = undone
        ran = blame.suspects(ctx, times, (0.0, time.time()))
        who = f" (the code of {', '.join(sorted(ran))} ran when it was made)" if ran else ""
        ctx.note(
            None,
            f"the repository's shared git directory changed outside every agent round and "
            f"check ({listed}){who}; the launcher put it back {when}",
        )
    await ref_watch.check_refs(ctx, None, "an agent", locked=locked)
