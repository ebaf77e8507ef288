"""The repository's refs around task code (app/run/containment.py calls it after each agent
round; app/run/git_watch.py after checks, integration checks, before landing and at run end):
what moved that the launcher did not move and the user did not make is put back with a
compare-and-swap, kept under refs/launcher/<run>/<task>/moved/, and blamed when time can tell.

A ref that the integration check moved to commits only the launcher's own check had (the merge
result it checks, not landed yet, or what it committed in its scratch tree) is put back right
after that check run (`put_back_check_moves`), before anything else looks at the refs: it is
never taken for the user's commit, nor for an agent's move."""

from __future__ import annotations

import contextlib
import re
import time

import anyio

from launcher.app.context import RunContext
from launcher.app.run import other_runs, user_git
from launcher.app.run.blame import suspects as _suspects
from launcher.app.run.blame import writer as _writer
from launcher.app.run.ref_owner import RefOwners, damaged_reflogs
from launcher.errors import LauncherError
from launcher.git import ref_guard, worktrees


class MovedRefs(LauncherError):
    default_key = "moved_shared_refs"


_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_OWN_LIMIT = 1000  # unlanded commits of a merge result that are listed (one or a few per task)


async def unlanded_commits(ctx: RunContext, commit: str) -> set[str]:
    """The commits of `commit` (a merge result about to be checked) that no ref reaches: the
    landing's own, made in memory and on no branch yet. Read before the check runs."""
    listed = await ctx.repo.git("rev-list", f"--max-count={_OWN_LIMIT}", commit, "--not", "--all", check=False)
    return set(listed.out.split()) if listed.ok else set()


async def _brings(ctx: RunContext, change: ref_guard.RefChange, own: set[str]) -> list[str]:
    """The commits of `own` that `change` makes a ref (or the main checkout's HEAD) reach."""
    new = change.new
    if new is None or not _OID.fullmatch(new):
        return []
    old = change.old if change.old is not None and _OID.fullmatch(change.old) else None
    found = []
    for commit in sorted(own):
        if await ctx.repo.is_ancestor(commit, new) and not (old and await ctx.repo.is_ancestor(commit, old)):
            found.append(commit)
    return found


async def put_back_check_moves(ctx: RunContext, own: set[str]) -> str | None:
    """Put back, right after an integration check ran, every ref (and the main checkout's HEAD)
    that now reaches one of `own`: the merge result it checked, not landed, and what it
    committed in its scratch tree. Only the check had those commits, so such a move is the
    check's (a `git update-ref refs/heads/main HEAD` in it), never the user's own commit; left,
    it would land unchecked work, and the landing would land the same merge once more. What the
    check set is kept under refs/launcher/<run>/_integration/moved/. Returns what was put back
    (None: nothing); the other changes are left to `put_back_refs`, which judges them as usual."""
    if ctx.ref_state is None or not own:
        return None
    async with ctx.repo.lock.hold():
        now = await ref_guard.read_state(ctx.repo)
        before = ctx.ref_state
        found = [ref_guard.RefChange(ref, before.refs.get(ref), now.refs.get(ref))
                 for ref in sorted(before.refs.keys() | now.refs.keys())
                 if before.refs.get(ref) != now.refs.get(ref)]
        if before.head != now.head:
            found.append(ref_guard.RefChange(ref_guard.HEAD, before.head or None, now.head or None))
        checks = [change for change in found if await _brings(ctx, change, own)]
        if not checks:
            return None
        moved = {change.ref for change in checks}
        # The main checkout switched to a branch the check made there goes back first.
        checks[:0] = [change for change in found if change.ref == ref_guard.HEAD and change not in checks
                      and (change.new or "").removeprefix("ref: ") in moved]
        kept = f"refs/launcher/{ctx.run_id}/{worktrees.INTEGRATION}/moved"
        problems = await ref_guard.undo(ctx.repo, checks, kept)
    listed = "; ".join(change.describe() for change in checks)
    return (f"moved refs of the shared repository to commits only the launcher's check had: the "
            f"merge result it checked, not landed, or its own commits ({listed}); the launcher put them back"
            + (f", except {', '.join(problems)}" if problems else "")
            + (f" (what it set is kept under {kept}/)" if ref_guard.keeps_any(checks) else ""))



async def check_refs(ctx: RunContext, task_id: str | None, who: str, *, ran: frozenset[str] = frozenset(),
                     locked: bool = False) -> MovedRefs | None:
    """`put_back_refs` for code run outside an agent round: `ran`, the tasks whose code ran since
    the last check (besides agents: a batch's integration check); `locked`: the caller holds
    the repository lock (the landing's)."""
    ctx.agents_seen |= ran
    return await put_back_refs(ctx, task_id, who, locked=locked)


async def put_back_refs(ctx: RunContext, task_id: str | None, who: str, locked: bool = False) -> MovedRefs | None:
    """Put back the watched refs that changed since the last check and were not the launcher's
    own moves nor the user's own commits (git/ref_guard.py); the error for `task_id` when the
    change is its agent's, others are failed through `ctx.intruders`."""
    if ctx.ref_state is None:
        return None
    error = None
    requested = time.monotonic()
    async with contextlib.nullcontext() if locked else ctx.repo.lock.hold():
        if ctx.ref_read_started > requested:
            # A check whose read began after this one was asked for has already run: it saw
            # every change made before, and blamed it (`ctx.ref_movers`). Many agents ending
            # at once share a few reads, whatever the number of refs.
            return _moved_by(ctx, task_id, who)
        ctx.ref_read_started = time.monotonic()
        now = await ref_guard.read_state(ctx.repo)
        found = ref_guard.changes(ctx.repo, ctx.ref_state, now)
        head_then = ctx.ref_state.head
        deferred = await _users_head(ctx, found)
        if deferred:  # HEAD as their live `git pull --rebase` detached it: looked at next time
            found = [change for change in found if change.ref != ref_guard.HEAD]
        seen = set(ctx.agents_seen)
        ctx.agents_seen = set(ctx.agents_running)
        blamed: dict[str, list[ref_guard.RefChange]] = {}
        owners = RefOwners(ctx, ctx.ref_state, now, seen)
        for change in found:  # sorted: branches (a user's commit, for a tag on it) before tags
            if change.old is None and change.ref.startswith("refs/heads/"):
                # A new branch moves nobody's work (an agent's `git switch -c`, whose commits
                # the task's branch takes over): noted, left.
                ctx.note(task_id, f"{change.describe()} while agents ran: left as it is")
                continue
            if change.new is None and change.ref.startswith("refs/heads/") and change.ref not in ctx.refs_at_start:
                # A branch made during the run and deleted again (an agent's throwaway `helper`
                # branch, merged and dropped): it held nobody's work from before the run. Its
                # last commit is kept, so nothing is lost whoever deleted it.
                assert change.old is not None
                kept_at = f"refs/launcher/{ctx.run_id}/_deleted/{change.ref.removeprefix('refs/')}"
                await ctx.repo.git("update-ref", "-m", "launcher: kept a deleted branch", kept_at, change.old,
                                   check=False)
                ctx.note(task_id, f"{change.describe()}, a branch made while the run went on: its last "
                                  f"commit is kept at {kept_at}")
                continue
            culprit = await _ref_culprit(ctx, owners, change, task_id, seen)
            if culprit is None:
                ctx.note(None, f"{ref_guard.RefChange.describe(change)}: not made by an agent of "
                               "this run, left as it is")
            else:
                blamed.setdefault(culprit, []).append(change)
        for culprit, changes in sorted(blamed.items()):
            kept = f"refs/launcher/{ctx.run_id}/{culprit or '_unknown'}/moved"
            problems = await ref_guard.undo(ctx.repo, changes, kept)
            listed = "; ".join(change.describe() for change in changes)
            what = (f"moved refs of the shared repository ({listed}); the launcher put them back"
                    + (f", except {', '.join(problems)}" if problems else "")
                    + (f" (what it set is kept under {kept}/)" if ref_guard.keeps_any(changes) else ""))
            if culprit == task_id:
                error = MovedRefs(
                    f"{who} of task {task_id} {what}", where=str(ctx.repo.common_dir),
                    fix="an agent may only commit on its own branch, in its own worktree",
                )
            elif culprit:
                ctx.ref_movers.setdefault(culprit, what)
            else:
                others = other_runs.suspects(ctx, [], (ctx.idle_trees.round_started.get(task_id or "", 0.0),
                                                       time.time()))
                ctx.note(task_id, f"an agent {what}; cannot tell which of "
                                  f"{', '.join(sorted(seen | others)) or 'no task'}")
        # Read again only after an undo: a ref an agent moves after `now` was read must show up
        # at the next check, not be taken into the record unseen.
        ctx.ref_state = await ref_guard.read_state(ctx.repo) if blamed else now
        if deferred:
            ctx.ref_state.head = head_then
    return error or _moved_by(ctx, task_id, who)


async def _users_head(ctx: RunContext, found: list[ref_guard.RefChange]) -> bool:
    """Whether the main checkout's HEAD changed while a git of the user's is at work there (their
    rebase detaches it until it finishes): then it is neither put back nor blamed now."""
    if not any(change.ref == ref_guard.HEAD for change in found):
        return False
    live = await anyio.to_thread.run_sync(user_git.find_users_git, ctx)
    if live:
        user_git.note_left(ctx, live, "the main checkout's HEAD")
    return bool(live)


def _moved_by(ctx: RunContext, task_id: str | None, who: str) -> MovedRefs | None:
    """The error for `task_id` when an earlier check blamed its agent for moving refs."""
    if task_id is None or task_id not in ctx.ref_movers:
        return None
    return MovedRefs(f"{who} of task {task_id} {ctx.ref_movers.pop(task_id)}", where=str(ctx.repo.common_dir),
                     fix="an agent may only commit on its own branch, in its own worktree")


async def _ref_culprit(ctx: RunContext, owners: RefOwners, change: ref_guard.RefChange,
                       task_id: str | None, seen: set[str]) -> str | None:
    """Who made `change`: a task id, "" for an agent that cannot be told apart, None for the
    user (by what the change holds, app/run/ref_owner.py: a fast-forward adding no commit made
    in a worktree of the run, a fetched tag, a `git pull --rebase`; or any change made while no
    agent ran)."""
    makers = await owners.fast_forward_makers(change)
    if makers:
        return task_id if task_id in makers else makers[0]
    if not seen:
        return None
    among = seen
    if unproven := owners.unproven():
        # A reflog of a task whose code ran was deleted or cut short: the commits it made are
        # unknown, so nothing proves this change the user's. It is put back and kept.
        if makers is not None or await owners.is_users(change):
            among = set(unproven)
            for task in unproven:
                if task not in owners.noted:
                    owners.noted.add(task)
                    ctx.note(task, f"{change.describe()} while its code ran, and its reflogs "
                                   f"({', '.join(map(str, damaged_reflogs(ctx, task)))}) were deleted or cut short: "
                                   "the commits it made cannot be told from yours, so the change is taken for its")
    elif makers is not None or await owners.is_users(change):
        return None
    since = ctx.idle_trees.round_started.get(task_id or "", 0.0)
    when = ref_guard.change_time(ctx.repo, change)
    return _writer(task_id if task_id in among else None, _suspects(ctx, [when], (since, time.time()), among=among))
