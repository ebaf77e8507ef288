"""What the main checkout held right before a run of the integration check, to put back exactly.

The run's start snapshot (engine/tree_guard.py) keeps the user's dirty, untracked and ignored
files as they were when the run started. A file the user saved since (between rounds, or while an
earlier run of the check ran) differs from that copy: putting the run-start copy back after the
check wrote or deleted the file would overwrite the user's newer save with an older one. So right
before each run of the check, the main checkout's files that changed since the run's start are
read (small ones, in memory only: an ignored file may hold secrets). A put-back of one of them
restores that content (the check's version moved aside as usual); one that was not there then is
moved aside; one too big to keep is not put back with an older copy: it is left as the check made
it, and what is said names where each version is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from launcher.app.context import RunContext
from launcher.engine import main_restore
from launcher.engine.tree_guard import MAX_KEPT_BYTES, MAX_KEPT_IGNORED_TOTAL

ABSENT = None  # a path that was not there right before the check


@dataclass
class BeforeCheck:
    contents: dict[str, bytes | None] = field(default_factory=dict)  # changed since the run's start
    modes: dict[str, int] = field(default_factory=dict)
    unsure: set[str] = field(default_factory=set)  # changed since the run's start, not kept (too big)
    # A run again: what the paths its first run changed held between the two runs (the user's
    # save, or the first run's write: cannot tell), set aside when they are put back
    between: dict[str, bytes | None] = field(default_factory=dict)
    # When it was taken, as said of what is put back ("right before the check"; an agent round's
    # own: "at the round's start", app/run/round_copy.py)
    moment: str = "right before the check"
    taken: float = 0.0  # when (wall clock): a later write's put-back restores the latest copy taken before it

    def plain(self, paths: list[str]) -> list[str]:
        """The paths whose run-start version (or HEAD's) is what they held before the check."""
        return [rel for rel in paths if rel not in self.contents and rel not in self.unsure]


async def take(ctx: RunContext, moment: str = "right before the check") -> BeforeCheck:
    """The main checkout's files changed since the run's start, as they are now (before a check;
    `moment` says when that is)."""
    taken = time.time()
    status = await ctx.main_status(not_before=time.monotonic())
    changed = {entry[3:] for entry in status if entry not in ctx.main_snapshot and len(entry) > 3}
    kept = await anyio.to_thread.run_sync(_read, ctx, changed)
    kept.moment, kept.taken = moment, taken
    return kept


def for_run_again(first: BeforeCheck, again: BeforeCheck, seen: set[str]) -> BeforeCheck:
    """What a run again puts back: a path its first run changed, as it was before that first run
    (what it held between the runs kept aside); any other, as it was before the run again."""
    merged = BeforeCheck(
        contents={rel: data for rel, data in again.contents.items() if rel not in seen},
        modes=dict(again.modes), unsure={rel for rel in again.unsure if rel not in seen},
        between={rel: again.contents.get(rel) for rel in seen if rel not in again.unsure}, moment=again.moment,
        taken=again.taken)
    for rel in seen:
        if rel in first.contents:
            merged.contents[rel] = first.contents[rel]
            merged.modes[rel] = first.modes.get(rel, 0o644)
        elif rel in first.unsure:
            merged.unsure.add(rel)
    return merged


def _read(ctx: RunContext, changed: set[str]) -> BeforeCheck:
    snapshot, root = ctx.main_contents, ctx.repo.root
    if snapshot is not None:
        for rel, state in snapshot.files.items():
            try:
                if state.same_stat((root / rel).lstat()):
                    continue
            except OSError:
                pass
            changed.add(rel)
    kept, budget = BeforeCheck(), MAX_KEPT_IGNORED_TOTAL
    for rel in sorted(changed):
        path = root / rel
        try:
            info = path.lstat()
        except FileNotFoundError:
            kept.contents[rel] = ABSENT
            continue
        except OSError:
            kept.unsure.add(rel)
            continue
        data = main_restore.bounded_copy(path, info.st_mode, info.st_size, min(MAX_KEPT_BYTES, budget))
        if data is None:
            kept.unsure.add(rel)
            continue
        kept.contents[rel] = data
        kept.modes[rel] = info.st_mode & 0o777
        budget -= info.st_size
    return kept


def put_back(root: Path, before: BeforeCheck, paths: list[str], aside_dir: Path, writer: str,
             put: main_restore.PutBack) -> None:
    """Put back the `paths` that changed since the run's start as they were right before the
    check (or when `before` was taken: its `moment`; the caller holds the repository lock); what
    is said added to `put`. `paths` are all those put back (`plain` ones already, by
    engine/main_restore.py)."""
    for rel in (rel for rel in paths if rel not in before.plain(paths)):
        if rel in before.unsure:
            put.left.append(rel)
            put.described.append(
                f"{rel} (left as {writer} made it: it changed after the run's start and was too big to keep "
                f"as it was {before.moment}, so its older run-start version is not put back over it)")
        elif rel in before.contents:
            try:
                put.described.append(f"{rel} ({_restore(root, rel, before, aside_dir, writer)})")
            except OSError as exc:
                put.left.append(rel)
                copy = _kept(rel, before, aside_dir, root)
                put.described.append(f"{rel} (left as {writer} made it ({exc.strerror or exc}){copy})")
    for rel in paths:
        if (data := before.between.get(rel)) is not None and (index := _said(put, rel)) is not None:
            kept = _keep_between(rel, data, aside_dir)
            put.described[index] = put.described[index][:-1] + (
                f"; what it held between the check's first run and its run again (your save, or that "
                f"run's write) kept in {main_restore.relative(kept, root)})")


def _kept(rel: str, before: BeforeCheck, aside_dir: Path, root: Path) -> str:
    """What is said of the version `rel` held when `before` was taken, written aside since it
    cannot be put back (the memory copy is its only one: an uncommitted save of the user's)."""
    data = before.contents.get(rel)
    if data is None:
        return ""
    try:
        kept = _keep_between(rel, data, aside_dir, ".before")
    except OSError:
        return ""
    return f"; its version {before.moment} kept in {main_restore.relative(kept, root)}"


def _said(put: main_restore.PutBack, rel: str) -> int | None:
    return next((i for i, line in enumerate(put.described) if line.startswith(f"{rel} (")), None)


def _keep_between(rel: str, data: bytes, aside_dir: Path, suffix: str = ".between-runs") -> Path:
    target, n = aside_dir / f"{rel}{suffix}", 1
    while target.exists() or target.is_symlink():
        n += 1
        target = aside_dir / f"{rel}{suffix}.{n}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def _restore(root: Path, rel: str, before: BeforeCheck, aside_dir: Path, writer: str) -> str:
    return main_restore.restore_copy(root, rel, before.contents[rel], before.modes.get(rel, 0o644), aside_dir,
                                     moment=before.moment, found=f"{writer}'s version")
