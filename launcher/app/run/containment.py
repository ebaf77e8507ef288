"""What keeps an agent inside its worktree, checked around every agent round.

At run start (and resume): the shared git directory's hooks and config are snapshotted, and the
main checkout's dirty, untracked and ignored files are hashed (engine/tree_guard.py). After each
agent round: git-dir changes are undone and fail the task; main-checkout changes in the round's
window are intrusions of that task; an idle worktree of another task that changed is put back,
and when only one task was active since it was recorded, that task is failed for it. Those
checks of other tasks' trees after a round stay within a share of the run's time
(`idle_trees.CROSS_CHECK_SHARE`); the checks before a tree's own next round and before landing
always run, so every change is still found. A failure is
a `LauncherError`, which `run_task` turns into the failed state.

Not attributable: a write into a worktree whose own agent (or checks) runs at the same time, and
a main-checkout write while several agents run (it is blamed on the first round to end).
"""

from __future__ import annotations

import contextlib
import shlex
import time
from pathlib import Path

import anyio

from launcher import wall_clock
from launcher.app.context import STATE_DIR, RunContext
from launcher.app.run import before_check, round_copy, user_git
from launcher.app.run.before_check import BeforeCheck
from launcher.app.run.blame import suspects as _suspects
from launcher.app.run.blame import writer as _writer
from launcher.app.run.idle_change import IdleWorkLost, idle_head_ref, lost_message
from launcher.app.run.idle_change import undo_idle_change as _undo_idle_change
from launcher.app.run.own_output import open_for_writing
from launcher.app.run.ref_owner import keep_reflogs
from launcher.app.run.ref_watch import put_back_refs
from launcher.concurrency import each
from launcher.engine import main_restore, odd_entries, reaper, tree_guard
from launcher.engine.live_git import LiveGit
from launcher.errors import LauncherError
from launcher.git import filters, guard, index_entries, index_guard, ref_guard, shallow_file
from launcher.models.states import TaskState
from launcher.store import own_files
from launcher.store.files import unused_path, utc_stamp

_CHECK_PARALLEL = 4  # idle trees checked at once before landing
INTRUSIONS_DIR = "intrusions"  # under the task's artifacts: its files moved out of the main checkout


class WroteOutsideWorktree(LauncherError):
    default_key = "wrote_outside_worktree"


class DamagedIndex(LauncherError):
    default_key = "main_index_damaged"


def _own_paths(ctx: RunContext) -> tuple[str, ...]:
    """Paths in the main checkout the launcher itself writes (its state, its worktrees, the
    files its own output goes to)."""
    own = [f"{STATE_DIR}/"]
    with contextlib.suppress(ValueError):  # the worktrees live outside the checkout
        own.append(str(ctx.worktree_root.resolve().relative_to(ctx.repo.root.resolve())) + "/")
    return tuple(own + open_for_writing(ctx.repo.root.resolve()))


def _is_own(rel: str, own: tuple[str, ...]) -> bool:
    return any(rel == p.rstrip("/") or (p.endswith("/") and rel.startswith(p)) for p in own)


async def start(ctx: RunContext) -> None:
    """Snapshot what agents must not change; called when a run starts or resumes."""
    reaper.become_subreaper()  # orphaned descendants come back to us, to be reaped
    own_files.record_own_outputs()  # again: a `| tee run.log` may have opened its file late
    ctx.git_dir_snapshot = await anyio.to_thread.run_sync(guard.take_snapshot, ctx.repo.common_dir, ctx.repo.git_dir)
    await filters.pin(ctx.repo)  # the content filters the launcher's own git may run
    ctx.main_index = await anyio.to_thread.run_sync(index_guard.IndexGuard, ctx.repo.git_dir)
    ctx.main_staged = index_entries.StagedEntries(await index_entries.read(ctx.repo),
                                                  index_entries.index_stat(ctx.main_index.path))
    async with ctx.repo.lock.hold():
        ctx.ref_state = await ref_guard.read_state(ctx.repo)
    ctx.refs_at_start = frozenset(ctx.ref_state.refs)
    earlier = ctx.main_contents  # a `grade` whose approval carries the run on takes it again
    ctx.main_contents = await tree_guard.take_main_snapshot(
        ctx.repo, ctx.include_paths, _own_paths(ctx)
    )
    await tree_guard.release(ctx.repo, earlier)  # (its blobs were kept until the new ref held them)
    if ctx.main_contents.from_ended:  # a killed launcher's copies of files changed since
        ctx.note(None, f"kept: {'; '.join(ctx.main_contents.from_ended)}")
    if ctx.main_contents.odd is not None and (partial := odd_entries.partial_note(ctx.main_contents.odd)):
        ctx.note(None, partial)


async def release_main(ctx: RunContext | None) -> None:
    """The command that took the main checkout's snapshot ends, however it ends (done, Ctrl-C,
    an error): the ref keeping its copies of the user's uncommitted files goes with it
    (`tree_guard.release`). Called from a `finally`: a failure to delete it is not raised over
    the command's own outcome; the ref, named after this ended process, then goes at the next
    snapshot or `launcher clean`."""
    if ctx is None or ctx.main_contents is None:
        return
    with anyio.CancelScope(shield=True), contextlib.suppress(OSError, LauncherError):
        await tree_guard.release(ctx.repo, ctx.main_contents)


async def before_round(ctx: RunContext, task_id: str) -> None:
    """The task's worktree must be as its last round left it; from now on it is active."""
    changed = await ctx.idle_trees.changes(ctx.repo, task_id)
    if changed and not await _undo_idle_change(ctx, task_id, changed):
        raise IdleWorkLost(lost_message(ctx, task_id, changed), where=f"task {task_id}",
                           fix="run the task again (`launcher run` with a new run)")
    await put_back_refs(ctx, None, "the agent")  # refs as recorded before this round
    keep_reflogs(ctx, task_id)  # what it commits is recorded whatever core.logAllRefUpdates says
    ctx.idle_trees.activate(task_id)
    ctx.agents_running.add(task_id)
    ctx.agents_seen.add(task_id)


async def record_idle(ctx: RunContext, task_id: str, worktree: Path) -> None:
    """The task's round is committed and checked: until its next round, its tree must not change."""
    await reap(ctx, task_id)  # what its checks left running
    await ctx.idle_trees.record(ctx.repo, task_id, worktree, idle_head_ref(ctx.run_id, task_id))


async def after_grading(ctx: RunContext, task_id: str, since: float) -> str | None:
    """After a grading round (started at `since`), what the grader changed outside its scratch
    tree is put back, as after an agent round. The task's own worktree (recorded idle before
    grading) is put back and noted: what was graded is what lands. Anything else (the main
    checkout, the shared git dir or refs, another task's worktree) is said, the grader named,
    for the caller to escalate the task: never blamed on its agent's next round, never left
    for the user to take for their own local changes. None: nothing was changed."""
    if changed := await ctx.idle_trees.changes(ctx.repo, task_id):
        await _undo_idle_change(ctx, task_id, changed, its_grader_ran=True)
    try:
        await after_round(ctx, task_id, who="the grader", since=since)
    except LauncherError as exc:
        return exc.what
    wrote = await main_tree_intrusions(ctx, since, time.time(), task_id, writer="the grader")
    if wrote:
        return f"the grader of task {task_id} wrote into the main checkout: {', '.join(wrote)}"
    return None


def _listed(changed: list[str]) -> str:
    return ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")


async def put_back_idle(ctx: RunContext, task_id: str) -> bool:
    """Put the task's idle worktree back if it changed since its record (its branch moved while
    none of its code ran); whether it had."""
    changed = await ctx.idle_trees.changes(ctx.repo, task_id)
    if changed:
        await _undo_idle_change(ctx, task_id, changed)
    return bool(changed)


async def after_round(ctx: RunContext, task_id: str, who: str = "the agent", since: float | None = None) -> None:
    """Undo an agent's changes to the shared git dir, the shared refs and idle worktrees; fail
    it for them (what it also wrote into the main checkout since `since`, by default its
    round's start, is put back first)."""
    await reap(ctx, task_id)
    ctx.agents_seen.add(task_id)
    error: LauncherError | None = await _check_main_index(ctx, task_id, who)
    try:
        await _undo_git_dir_changes(ctx, task_id, who)
    except guard.GitDirTampered as exc:
        error = error or exc
    finally:
        ctx.agents_running.discard(task_id)
        error = await put_back_refs(ctx, task_id, who) if error is None else error
    for other in list(ctx.idle_trees.records):
        if not ctx.idle_trees.may_cross_check():
            break  # over budget: the tree is checked before its next round and before landing
        if other != task_id and other in ctx.idle_trees.records and (
            changed := await ctx.idle_trees.cross_check(ctx.repo, other)
        ):
            await _undo_idle_change(ctx, other, changed)
    if error is None and task_id in ctx.intruders:
        error = WroteOutsideWorktree(
            f"{who} {ctx.intruders.pop(task_id)}",
            where=f"task {task_id}", fix="an agent may only write inside its own worktree",
        )
    if error is not None:
        # The task's round is not collected: what it wrote into the main checkout is put back now.
        wrote = await main_tree_intrusions(
            ctx, ctx.idle_trees.round_started.get(task_id, 0.0) if since is None else since, time.time(), task_id)
        if wrote:
            error.what += f"; it also wrote into the main checkout: {', '.join(wrote)}"
        raise error


async def put_back_git_dir(ctx: RunContext, locked: bool = False) -> tuple[str, list[float | None]] | None:
    """Put the shared git dir back as the run's snapshot has it, what was there set aside in the
    run's artifacts (`guard.undo_tampering`); `locked`: the caller holds the repository lock."""
    snapshot = ctx.git_dir_snapshot
    if snapshot is None:
        return None
    live: list[LiveGit] = []

    def users_git_live() -> bool:  # their `git pull --rebase` owns the rebase-merge/ it shows
        live.extend(user_git.find_users_git(ctx))
        return bool(live)

    async with contextlib.nullcontext() if locked else ctx.repo.lock.hold():
        branch_keys = await user_git.take_in_branch_config(ctx)  # a new branch's upstream is no change
        await shallow_file.judge_shallow(ctx.repo, snapshot)  # what git wrote for a fetch stays
        aside = unused_path(ctx.files.run_dir / INTRUSIONS_DIR / "git-dir", utc_stamp())  # never another's
        undone = await anyio.to_thread.run_sync(guard.undo_tampering, snapshot, aside, users_git_live)
        if branch_keys is not None:
            await user_git.keep_branch_keys(ctx, branch_keys)
    if live:
        user_git.note_left(ctx, live, "the operation in progress in the main checkout")
    return undone


async def _undo_git_dir_changes(ctx: RunContext, task_id: str, who: str) -> None:
    """Put the shared git dir back; blame the task if its code alone ran when the changes were
    made, else the one other task that ran then (`_writer`)."""
    snapshot = ctx.git_dir_snapshot
    if snapshot is None:
        return
    since = ctx.idle_trees.round_started.get(task_id, 0.0)
    undone = await put_back_git_dir(ctx)
    if undone is None:
        return
    listed, times = undone
    writer = _writer(task_id, _suspects(ctx, times, (since, time.time())))
    if writer == task_id:
        raise guard.tampered(f"{who} of task {task_id}", listed, snapshot.common_dir)
    what = f"changed the repository's shared git directory ({listed}); the launcher put it back"
    if writer:
        ctx.intruders.setdefault(writer, what)
    ctx.note(task_id, f"another agent {what}" + ("" if writer else "; cannot tell which"))


async def _check_main_index(ctx: RunContext, task_id: str | None, who: str) -> DamagedIndex | None:
    """Put back the main checkout's index if it was deleted or made unreadable (git/index_guard.py);
    the error for `task_id` when its code alone ran then, else the one other task that ran is
    failed through `ctx.intruders` (`_writer`)."""
    if ctx.main_index is None:
        return None
    since = ctx.idle_trees.round_started.get(task_id or "", 0.0)
    async with ctx.repo.lock.hold():
        damage = await anyio.to_thread.run_sync(ctx.main_index.check)
    if damage is None:
        return await _check_staged(ctx, task_id, who, since)
    index = f"the main checkout's git index ({ctx.main_index.path})"
    what = (f"deleted {index}" if damage.what == "deleted" else f"overwrote {index} with {damage.what}")
    what += (": git saw every file of the main checkout as deleted and untracked; the launcher put "
             "the index back as it was")
    return _index_blamed(ctx, task_id, who, what, damage.when, since)


async def _check_staged(ctx: RunContext, task_id: str | None, who: str, since: float) -> DamagedIndex | None:
    """Put back entries of the main checkout's index that hold content neither its HEAD nor its
    work tree has (an agent's `GIT_INDEX_FILE=<common>/index git update-index`; git/index_entries.py);
    blamed as `_check_main_index` blames, by the index file's ctime. Entries that could be the
    user's own staging (`index_entries.Judged.unsure`) are left, noted once, and named by a park."""
    staged, index = ctx.main_staged, ctx.main_index
    if staged is None or index is None:
        return None
    async with ctx.repo.lock.hold():
        seen = index_entries.index_stat(index.path)
        if seen is None or seen == staged.seen:
            return None
        now = await index_entries.read(ctx.repo)
        judged = await index_entries.judge(ctx.repo, staged.entries, now)
        found = judged.foreign
        if found:
            await index_entries.put_back(ctx.repo, staged.entries, found)
            now = await index_entries.read(ctx.repo)
        staged.entries, staged.seen = now, index_entries.index_stat(index.path)
        fresh = [path for path in judged.unsure if staged.unsure.get(path) != now.get(path)]
        staged.unsure.update((path, now[path]) for path in judged.unsure if path in now)
    if fresh:
        ctx.note(None, f"{_listed(fresh)} staged in the main checkout's git index during the run holds content "
                 "that is in neither its HEAD commit nor its work tree (your own partial `git add -p`, or an "
                 f"agent's staging): left as it is; look at it (`git diff --cached -- {shlex.join(fresh[:8])}`) "
                 f"before you commit it, `git restore --staged -- {shlex.join(fresh[:8])}` drops it")
    if not found:
        return None
    what = (f"staged {_listed(found)} in the main checkout's git index ({index.path}), content that is "
            "neither in its HEAD commit nor in its work tree; the launcher put those index entries back")
    return _index_blamed(ctx, task_id, who, what, seen[3] / 1e9, since)


def _index_blamed(ctx: RunContext, task_id: str | None, who: str, what: str, when: float | None,
                  since: float) -> DamagedIndex | None:
    """The error for `task_id` when its code alone ran when the main index was changed at `when`;
    another task found to be the writer fails through `ctx.intruders`; else a note."""
    writer = _writer(task_id, _suspects(ctx, [when], (since, time.time())))
    if writer and writer == task_id:
        return DamagedIndex(f"{who} of task {task_id} {what}", where=str(ctx.repo.root),
                            fix="an agent must not touch the main checkout's git files; nothing of "
                                "yours was lost, there is nothing to commit")
    if writer:
        ctx.intruders.setdefault(writer, what)
    ctx.note(task_id, f"an agent {what}" + ("" if writer else "; cannot tell which"))
    return None


async def reap(ctx: RunContext, task_id: str | None = None) -> None:
    """Kill the task's (or, with None, the whole run's) processes that escaped their group."""
    killed = await anyio.to_thread.run_sync(reaper.reap_escaped, ctx.run_id, task_id)
    if killed:
        ctx.note(task_id, f"killed {len(killed)} process(es) that escaped their process group")


async def main_tree_intrusions(ctx: RunContext, since: float, ended: float, task_id: str | None = None,
                              writer: str = "the agent", scan_after: float | None = None,
                              before: BeforeCheck | None = None) -> list[str]:
    """Files of the main checkout changed in this round's window (by status, then by content).
    With `task_id`, each is put back (engine/main_restore.py) and said how, and only what this
    task alone can have written is returned (blamed on it): a file written while other tasks'
    code ran too is blamed on none of them (a note says so) and set aside for the run, and one
    written while only another task ran is that task's (`ctx.intruders`). `scan_after`: the
    `time.monotonic()` at `ended` (default: now), the main checkout's status is taken after.
    `before`: without `task_id`, the copy taken right before the window (an integration check's)."""
    found = []
    # A clock stepped back since, a file system whose clock lags: written after, stamped before
    since = wall_clock.window_start(since) - wall_clock.file_system_lag(ctx.files.run_dir)
    for entry in await ctx.main_status(not_before=time.monotonic() if scan_after is None else scan_after):
        if entry in ctx.main_snapshot:
            continue
        when = tree_guard.ctime_of(ctx.repo.root / entry[3:])  # ctime: cannot be back-dated
        if when is None or when >= since - 1:
            found.append(entry[3:])
    if ctx.main_contents is not None:
        found += await anyio.to_thread.run_sync(tree_guard.changed_since, ctx.main_contents, since)
        if (odd := ctx.main_contents.odd) is not None:  # a FIFO, an empty directory: git lists neither
            made = await odd_entries.not_ignored(ctx.repo, await anyio.to_thread.run_sync(odd_entries.new_since, odd))
            found += [rel for rel in made if (when := tree_guard.ctime_of(ctx.repo.root / rel)) is None
                      or when >= since - 1]
    own = _own_paths(ctx) if found else ()  # what the launcher writes itself (its output files)
    fresh = sorted(p for p in set(found) if p not in ctx.reported_intrusions and not _is_own(p, own))
    if fresh:  # what another launcher process wrote there (its output files, its ledgers)
        known = own_files.load(ctx.repo.root)
        fresh = [p for p in fresh if not own_files.written_by_a_launcher(ctx.repo.root, p, known)]
    # Not this window's change: the user's edit as the integration check left it, and (a task's
    # window) what holds what it held when the window started (app/run/round_copy.py; an
    # integration check's: right before it, so a file the user deleted earlier is not its deletion)
    copy = round_copy.copy_of(ctx, task_id) if task_id is not None else before
    if fresh and (same := round_copy.still_users(ctx, fresh) | await round_copy.not_changed(ctx, copy, fresh)):
        fresh = [p for p in fresh if p not in same]
    ctx.reported_intrusions.update(fresh)
    if not fresh or task_id is None:
        return fresh
    by_writer: dict[str, list[str]] = {}
    written: dict[str, tuple[set[str], float | None]] = {}  # who ran and when, for the copy to put back
    unattributed: set[str] = set()
    for rel in fresh:
        when = tree_guard.ctime_of(ctx.repo.root / rel)
        suspects = written.setdefault(rel, (_suspects(ctx, [when], (since, ended)), when))[0]
        culprit = _writer(task_id, suspects)
        by_writer.setdefault(culprit, []).append(rel)
        if not culprit:
            unattributed |= suspects
            ctx.note(task_id, f"{rel} was written into the main checkout while the code of tasks "
                              f"{', '.join(sorted(suspects))} ran; cannot tell which: none is blamed")
    blamed: list[str] = []
    for writer_id, paths in sorted(by_writer.items()):
        aside = ctx.files.task_dir(writer_id) if writer_id else ctx.files.run_dir
        who, described = writer_id or f"one of {', '.join(sorted(unattributed))}", []
        for before, some in round_copy.by_copy(ctx, task_id, paths, written):  # the latest before each write
            described += await _put_back_main(ctx, some, aside / INTRUSIONS_DIR, who,
                                              writer if writer_id == task_id else "the agent", before=before)
            if said := round_copy.said_of_round(some, before, writer if writer_id == task_id else "the agent"):
                ctx.note(task_id, said)
        if writer_id == task_id:
            blamed = described
        elif writer_id:
            ctx.intruders.setdefault(writer_id, f"wrote into the main checkout: {', '.join(described)}")
        else:
            ctx.note(task_id, f"put back: {', '.join(described)}")
    return blamed


async def integration_check_writes(ctx: RunContext, since: float, before: BeforeCheck) -> list[str]:
    """What the integration check (the merged work's code, run at landing, from `since`) wrote
    into the main checkout is put back, as after a task's checks, the check's version set aside
    in the run's artifacts; what it wrote and how each was put back, or None. No agent of this
    run is blamed here: the caller fails that check run, and bisection finds the change that
    makes it write (or the target itself, when the check always does).

    A change made while other code ran too (another run's on the same repository, or a task of
    this run) may be that code's, as after a task's round (`_suspects`): it is put back all the
    same, but it does not fail the check run, and a note names who else ran. Returns what the
    check alone can have written, not put back yet."""
    ended = time.time()
    wrote = await main_tree_intrusions(ctx, since, ended, before=before)
    if not wrote:
        return []
    check = "the integration check"
    alone: list[str] = []
    shared: list[str] = []
    others: set[str] = set()
    for rel in wrote:
        suspects = _suspects(ctx, [tree_guard.ctime_of(ctx.repo.root / rel)], (since, ended))
        (shared if suspects else alone).append(rel)
        others |= suspects
    if shared:
        who = f"one of {check} and {', '.join(sorted(others))}"
        described = await _put_back_main(ctx, shared, ctx.files.run_dir / INTRUSIONS_DIR, who,
                                         writer="its writer", before=before)
        ctx.note(None, f"the main checkout changed while {check} ran ({', '.join(described)}), and the code "
                       f"of {', '.join(sorted(others))} ran then too: cannot tell which wrote it, so the "
                       "check run is not failed for it")
    return alone


async def put_back_check_writes(ctx: RunContext, paths: list[str], before: BeforeCheck) -> str:
    """Put back what the integration check wrote into the main checkout (its version set aside
    in the run's artifacts), as it was right before the check (`before`: app/run/before_check.py);
    what it wrote and how each was put back."""
    check = "the integration check"
    aside = ctx.files.run_dir / INTRUSIONS_DIR / "integration-check"
    described = await _put_back_main(ctx, paths, aside, check, writer=check, before=before)
    return f"{check} wrote into the main checkout: {', '.join(described)}"


async def _put_back_main(ctx: RunContext, paths: list[str], aside_dir: Path, who: str,
                         writer: str = "the agent", before: BeforeCheck | None = None) -> list[str]:
    async with ctx.repo.lock.hold():
        # What changed since the run's start is put back as it was right before the check, never
        # as the older run-start copy (app/run/before_check.py)
        plain = before.plain(paths) if before is not None else paths
        put = await main_restore.put_back(
            ctx.repo, ctx.main_contents, {entry[3:] for entry in ctx.main_snapshot}, plain, aside_dir, writer)
        if before is not None:
            await anyio.to_thread.run_sync(before_check.put_back, ctx.repo.root, before, paths, aside_dir,
                                           writer, put)
    ctx.main_scan = None  # taken before the files were put back
    for rel in paths:
        if rel in put.left:
            ctx.intrusions_left[rel] = who
        else:  # as before: a later write there is a new intrusion
            ctx.reported_intrusions.discard(rel)
    return put.described


async def before_landing(ctx: RunContext) -> None:
    """Approved worktrees must still be as recorded; a task found writing elsewhere fails."""
    await _check_main_index(ctx, None, "an agent")  # the landing reads the main checkout's index
    found: dict[str, list[str]] = {}

    async def check(task_id: str) -> None:
        if changed := await ctx.idle_trees.changes(ctx.repo, task_id):
            found[task_id] = changed

    await each(list(ctx.idle_trees.records), check, _CHECK_PARALLEL)  # one `git status` per tree
    for task_id in sorted(found):
        await _undo_idle_change(ctx, task_id, found[task_id])
    for blamed in (ctx.intruders, ctx.ref_movers):
        for task_id, what in list(blamed.items()):
            if ctx.journal.task(ctx.run_id, task_id).state is TaskState.APPROVED:
                ctx.transition(task_id, TaskState.FAILED, f"the agent {what}")
                del blamed[task_id]
