"""What a put-back after an agent round restores, and which main-checkout changes are not a round's.

The run's start snapshot (engine/tree_guard.py) keeps the main checkout's dirty, untracked and
ignored files as they were when the run started. A file the user saved since (between rounds, or
while a setup ran) differs from that copy: putting the run-start copy back after an agent wrote
or deleted it in its round would overwrite the user's newer save with an older one. So when a
task's round (or its grading) starts, the main checkout's files that changed since the run's start
are read, as right before an integration check (app/run/before_check.py: small ones, in memory
only, within the snapshot's budgets), and its put-back restores that copy. A file that holds what
that copy holds when the round is judged was not changed in the round (touched, or changed and
put back), whatever its ctime says. What the round's start copy cannot tell apart (the user's save
and the agent's write, both made during the round) is all kept: the round's start version put
back, the version found after the round moved aside, and a note says so and where.

The integration check takes a file that changed while it ran, and not when it ran again, for the
user's edit (app/run/tree_commands.py), and leaves it. Its (ctime, mtime) then is kept
(`take_as_users`): while the file is still that edit, no scan (an agent round whose window covers
the save) blames anyone for it; once it changes again (a later run of the check deleting or
overwriting it), that change is found as any other, and put back as the file was before it.
"""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import anyio

from launcher.app.context import RunContext
from launcher.app.run import before_check
from launcher.app.run.before_check import ABSENT, BeforeCheck

ROUND_START = "at the round's start"
GRADING_START = "when its grading started"


async def take(ctx: RunContext, task_id: str, moment: str = ROUND_START) -> None:
    """From now on, what `task_id`'s put-backs restore (its round, or its grading, starts now)."""
    ctx.window_copies[task_id] = await before_check.take(ctx, moment)


def copy_of(ctx: RunContext, task_id: str | None) -> BeforeCheck | None:
    found = ctx.window_copies.get(task_id or "")
    return found if isinstance(found, BeforeCheck) else None


def copy_for(ctx: RunContext, task_id: str, suspects: set[str], when: float | None) -> BeforeCheck | None:
    """The copy a put-back of a file written at `when` (its ctime; None: not known) restores, found
    after `task_id`'s window while `suspects`' code ran: the latest of their copies (and the task's
    own) taken before that write. Rounds overlap: a save the user made after this task's round
    started but before another's (whose agent then overwrote it) is only in that other copy; this
    task's older one would put back an older version over it."""
    owners = {task_id, *suspects}
    copies = [(owner, found) for owner in sorted(owners) if (found := copy_of(ctx, owner)) is not None]
    before = [pair for pair in copies if when is None or pair[1].taken <= when]
    if not copies:
        return None
    # (none taken before it, a clock step: the oldest, the closest to that write)
    owner, found = max(before, key=_taken) if before else min(copies, key=_taken)
    if owner == task_id:
        return found
    return replace(found, moment=_of_task(found.moment, owner))


def _taken(pair: tuple[str, BeforeCheck]) -> float:
    return pair[1].taken


def by_copy(ctx: RunContext, task_id: str, paths: list[str], written: dict[str, tuple[set[str], float | None]]
            ) -> list[tuple[BeforeCheck | None, list[str]]]:
    """`paths` grouped by the copy each is put back as (`copy_for`); `written`: each path's
    suspects and ctime."""
    groups: dict[tuple[float, str], tuple[BeforeCheck | None, list[str]]] = {}
    for rel in paths:
        chosen = copy_for(ctx, task_id, *written[rel])
        groups.setdefault((chosen.taken, chosen.moment) if chosen else (0.0, ""), (chosen, []))[1].append(rel)
    return list(groups.values())


def _of_task(moment: str, owner: str) -> str:
    """`moment` said of another task's window."""
    if moment == ROUND_START:
        return f"at the start of task {owner}'s round"
    if moment == GRADING_START:
        return f"when task {owner}'s grading started"
    return f"{moment} (task {owner})"


def forget(ctx: RunContext, task_id: str) -> None:
    """The task's windows are over (its rounds and grading done): its copy goes."""
    ctx.window_copies.pop(task_id, None)


async def not_changed(ctx: RunContext, copy: BeforeCheck | None, paths: list[str]) -> set[str]:
    """The `paths` that hold what `copy` says they held when it was taken (there or not): not
    changed since, whatever their stat says."""
    if copy is None:
        return set()
    kept = [rel for rel in paths if rel in copy.contents]
    if not kept:
        return set()
    root = ctx.repo.root
    return await anyio.to_thread.run_sync(
        lambda: {rel for rel in kept if _holds(root / rel, copy.contents[rel])})


def _holds(path: Path, data: bytes | None) -> bool:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return data is ABSENT
    except OSError:
        return False
    if data is ABSENT or not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
        return False
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def stamp(path: Path) -> tuple[int, int] | None:
    """When `path` last changed (ctime, mtime; None: not there): a write since changes it."""
    try:
        found = path.lstat()
    except OSError:
        return None
    return found.st_ctime_ns, found.st_mtime_ns


def take_as_users(ctx: RunContext, paths: list[str]) -> None:
    """The integration check took `paths` for the user's edits: left as they are now."""
    for rel in paths:
        ctx.users_edits[rel] = stamp(ctx.repo.root / rel)
        ctx.reported_intrusions.discard(rel)


def still_users(ctx: RunContext, paths: list[str]) -> set[str]:
    """The `paths` still as they were when taken for the user's edits; one changed since is
    forgotten as such (what changed it is found as any write)."""
    same = set()
    for rel in paths:
        if rel not in ctx.users_edits:
            continue
        if stamp(ctx.repo.root / rel) == ctx.users_edits[rel]:
            same.add(rel)
        else:
            del ctx.users_edits[rel]
    return same


def said_of_round(paths: list[str], copy: BeforeCheck | None, writer: str) -> str | None:
    """The note for a round's put-back of files it changed since the run's start, None if none:
    the version moved aside may be the user's own save made during the round."""
    if copy is None or not (restored := [rel for rel in paths if rel in copy.contents]):
        return None
    return (f"{', '.join(restored)} put back as {'it was' if len(restored) == 1 else 'they were'} {copy.moment} "
            f"(changed since the run's start, so not the run-start copy); the version moved aside is what was "
            f"there after {writer} ran: its write, or a save of yours made meanwhile (the launcher cannot tell "
            "them apart): copy back what is yours from there")
