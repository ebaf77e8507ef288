"""Idle worktrees: the trees agents must not write between their rounds.

A task's worktree is recorded (HEAD, its branch, status) when its round is collected and
checked; until its next round it must stay exactly so (`IdleTrees`): its directory there,
registered at that path (not `git worktree move`d nor removed), its branch at the recorded
commit. Its recorded commit is also kept under a ref of the launcher's own namespace
(`refs/launcher/<run>/<task>/idle-head`), so that a sibling's `git branch -D` followed by
`git gc --prune=now` cannot lose it: the branch and worktree are then put back from there.

Putting a tree back deletes nothing unseen: what it holds that its record does not (a file added
or changed since: a sibling agent's write, or the user's own edit, which the launcher cannot tell
apart) is copied aside first, and the caller says where.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from launcher import wall_clock
from launcher.git import commits, worktrees
from launcher.git.repo import GitRepo


@dataclass
class IdleTree:
    worktree: Path
    head: str
    status: frozenset[str]
    witnesses: set[str]  # tasks active (agent, checks) at any time since the record
    recorded_at: float = field(default_factory=time.time)
    branch: str | None = None  # short name; None: recorded on a detached HEAD
    keep_ref: str | None = None  # a ref of the launcher's that holds `head` too


class IdleWorkLost(Exception):
    """An idle task's branch and worktree are gone, and so is its recorded commit."""


# Share of the run's wall time that checks of *other* tasks' idle trees after a round may take.
# Each check is a `git status` of a whole tree, so checking every idle tree after every round
# costs O(N^2) statuses; over this share they wait for the checks that cannot be skipped (before
# the tree's own next round, before landing), which still see every change: only the moment it
# is noticed moves, not who is blamed (`IdleTree.witnesses` keeps growing until the check).
CROSS_CHECK_SHARE = 0.1
# A file's ctime may read up to this much before the write (file systems that keep whole
# seconds truncate; Linux stamps with a clock that lags by a tick), never after it.
CTIME_SLACK_S = 1.0


@dataclass
class Span:
    """When a task's code ran, on the monotonic clock, and how the wall clock stood against it
    (wall - monotonic) at the span's ends and whenever it was looked at while open. A write made
    in the span has a ctime between its start plus the lowest offset and its end plus the
    highest: a step of the wall clock meanwhile (NTP, a VM restored) widens it, never moves it
    past the writes made in it (a step back used to make a task's own writes look older than its
    span, and blame whichever task ran at that earlier time)."""

    start: float  # time.monotonic()
    end: float | None  # None: still running
    low: float  # the lowest and highest wall - monotonic offset seen
    high: float

    def see(self, offset: float) -> None:
        self.low, self.high = min(self.low, offset), max(self.high, offset)

    def wall(self) -> tuple[float, float | None]:
        """The ctimes the span's writes may have: (earliest, latest; None: no bound yet)."""
        return self.start + self.low, None if self.end is None else self.end + self.high


def _offset() -> float:
    return time.time() - time.monotonic()


@dataclass
class IdleTrees:
    """Worktrees whose agent is not running, and which tasks were active meanwhile."""

    records: dict[str, IdleTree] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    round_started: dict[str, float] = field(default_factory=dict)  # wall clock, per task
    started: float = field(default_factory=time.monotonic)
    cross_check_s: float = 0.0  # time spent checking other tasks' trees after rounds
    # When each task's code ran (its agent, then its checks), the last span open while it runs.
    # Who may have written a file is whoever ran when its ctime says.
    spans: dict[str, list[Span]] = field(default_factory=dict)

    def may_cross_check(self) -> bool:
        """Whether a check of another task's idle tree after a round fits the time budget."""
        return self.cross_check_s < CROSS_CHECK_SHARE * (time.monotonic() - self.started)

    async def cross_check(self, repo: GitRepo, task_id: str) -> list[str] | None:
        """`changes`, timed against the cross-check budget."""
        began = time.monotonic()
        try:
            return await self.changes(repo, task_id)
        finally:
            self.cross_check_s += time.monotonic() - began

    def activate(self, task_id: str) -> None:
        """The task's agent is about to run: its tree is no longer idle, and it witnesses others."""
        self.records.pop(task_id, None)
        self.active.add(task_id)
        self.round_started[task_id] = wall_clock.stamp()  # a window start (a clock step widens it)
        self.open_span(task_id)
        for record in self.records.values():
            record.witnesses.add(task_id)

    def open_span(self, task_id: str) -> None:
        """The task's code (or its grader) starts running."""
        spans = self.spans.setdefault(task_id, [])
        if not spans or spans[-1].end is not None:  # opened again while running: one span
            offset = _offset()
            spans.append(Span(time.monotonic(), None, offset, offset))

    def close_span(self, task_id: str) -> None:
        spans = self.spans.get(task_id)
        if spans and spans[-1].end is None:
            spans[-1].see(_offset())
            spans[-1].end = time.monotonic()

    def finish(self, task_id: str) -> None:
        """The task's pipeline ended (approved, failed, or waiting): none of its code runs now."""
        self.active.discard(task_id)
        self.close_span(task_id)

    def forget(self, task_id: str) -> None:
        """The launcher itself removes the task's worktree (merged, nothing changed, a best-of-N
        attempt not chosen): no longer a tree to guard, so its absence blames no one."""
        self.records.pop(task_id, None)

    def suspects(self, at: float | None, window: tuple[float, float]) -> set[str]:
        """Tasks whose code was running when a file got the ctime `at` (None: when it is not
        known, at any time in `window`). A span's ctimes take in any step of the wall clock
        made while it ran (`Span`): a step makes blame name more tasks (so, none), never the
        wrong one alone."""
        low, high = (at, at) if at is not None else window
        now = _offset()
        found = set()
        for task_id, spans in self.spans.items():
            for span in spans:
                if span.end is None:
                    span.see(now)  # a step while it still runs
                start, end = span.wall()
                if start - CTIME_SLACK_S <= high and (end is None or low <= end):
                    found.add(task_id)
                    break
        return found

    async def record(self, repo: GitRepo, task_id: str, worktree: Path, keep_ref: str | None = None) -> None:
        """Record the task's idle tree; `keep_ref` (a ref no agent is meant to know) is set to
        its HEAD, so that its commit outlives its branch being deleted."""
        self.active.discard(task_id)
        self.close_span(task_id)
        head, branch, status = await tree_state(repo, worktree)
        if keep_ref and head:
            async with repo.lock.hold():
                await repo.git("update-ref", keep_ref, head, check=False)  # refs/launcher/: no reflog
        self.records[task_id] = IdleTree(worktree, head, status, set(self.active), branch=branch,
                                         keep_ref=keep_ref if head else None)

    async def changes(self, repo: GitRepo, task_id: str) -> list[str] | None:
        """What changed in an idle worktree since its record (None: unchanged or not recorded):
        its files, its HEAD, its branch, or the worktree itself (removed, moved elsewhere)."""
        record = self.records.get(task_id)
        if record is None:
            return None
        if not record.worktree.is_dir():
            return await _gone(repo, record)
        head, branch, status = await tree_state(repo, record.worktree)
        found = [f"HEAD moved to {head[:12] or 'nothing'}"] if head != record.head else []
        if record.branch and branch != record.branch:
            found.append(f"HEAD left branch {record.branch} (now {branch or 'detached'})")
        found += sorted(entry[3:] for entry in status - record.status)
        found += sorted(f"{entry[3:]} (reverted)" for entry in record.status - status)
        return found or None

    async def restore(self, repo: GitRepo, task_id: str, aside: Path | None = None) -> list[str]:
        """Put an idle worktree back to its record: the worktree at its path (moved back, or
        added again), its branch at the recorded commit, files, no stray new files. Raises
        `IdleWorkLost` when the worktree or branch is gone and the recorded commit with it.
        `aside`: where the files it holds that the record does not (added, changed) are copied
        first; returns their paths (relative to the tree) as copied there."""
        record = self.records[task_id]
        kept: list[str] = []
        if aside is not None and record.worktree.is_dir():
            status = (await tree_state(repo, record.worktree))[2]
            kept = _keep_aside(record.worktree, sorted(e[3:] for e in status - record.status), aside)
        if not record.worktree.is_dir() or (record.branch and not await _branch_at(repo, record.branch)):
            await _rebuild(repo, record)
        elif record.branch:
            async with repo.lock.hold():  # HEAD back on the branch (an agent's checkout of another)
                await repo.git("symbolic-ref", "HEAD", f"refs/heads/{record.branch}", cwd=record.worktree)
        await commits.reset_to(repo, record.worktree, record.head)
        record.status = (await tree_state(repo, record.worktree))[2]
        return kept


def _keep_aside(tree: Path, paths: list[str], aside: Path) -> list[str]:
    """Copy the files at `paths` of `tree` into `aside` (symlinks as links, a deleted one
    skipped), never over an earlier copy; the paths copied."""
    kept = []
    for rel in paths:
        source = tree / rel
        if not (source.is_file() or source.is_symlink()):
            continue  # deleted (git has it), or a directory (its files are listed one by one)
        target, n = aside / rel, 1
        while target.exists() or target.is_symlink():
            n += 1
            target = aside / f"{rel}.{n}"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                os.symlink(os.readlink(source), target)
            else:
                shutil.copy2(source, target, follow_symlinks=False)
        except OSError:
            continue
        kept.append(rel)
    return kept


async def _branch_at(repo: GitRepo, branch: str) -> str | None:
    found = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False)
    return found.out.strip() if found.ok else None


def _registered_elsewhere(record: IdleTree, listed: list[worktrees.WorktreeInfo]) -> worktrees.WorktreeInfo | None:
    """The worktree that holds the record's branch at another path (a `git worktree move`)."""
    here = record.worktree.absolute()
    return next((info for info in listed if record.branch and info.branch == record.branch
                 and info.path.absolute() != here), None)


async def _gone(repo: GitRepo, record: IdleTree) -> list[str]:
    """What happened to an idle worktree whose directory is no longer there."""
    moved = _registered_elsewhere(record, await worktrees.list_worktrees(repo))
    found = [f"worktree moved to {moved.path}" if moved is not None and moved.path.is_dir()
             else f"worktree {record.worktree} removed"]
    if record.branch:
        at = await _branch_at(repo, record.branch)
        if at is None:
            found.append(f"branch {record.branch} deleted")
        elif at != record.head:
            found.append(f"branch {record.branch} moved to {at[:12]}")
    return found


async def _rebuild(repo: GitRepo, record: IdleTree) -> None:
    """Bring back a removed or moved idle worktree and its branch, at the recorded commit."""
    async with repo.lock.hold():
        exists = await repo.git("cat-file", "-e", f"{record.head}^{{commit}}", check=False)
        if not record.head or not exists.ok:
            raise IdleWorkLost(record.head)
        if record.branch:
            await repo.git("update-ref", "-m", "launcher: put back an idle task's branch",
                           f"refs/heads/{record.branch}", record.head)
        if record.worktree.is_dir():
            return
        listed = await worktrees.list_worktrees(repo)
        moved = _registered_elsewhere(record, listed)
        if moved is not None and moved.path.is_dir():
            if moved.locked:
                await repo.git("worktree", "unlock", str(moved.path), check=False)
            record.worktree.parent.mkdir(parents=True, exist_ok=True)
            await repo.git("worktree", "move", str(moved.path), str(record.worktree))
            return
        for info in listed:  # registrations whose directory is gone (ours, or the move's target)
            if info is not listed[0] and (info is moved or info.path.absolute() == record.worktree.absolute()):
                await worktrees.forget(repo, info.path)
        record.worktree.parent.mkdir(parents=True, exist_ok=True)
        await worktrees.add(repo, "--quiet", path=record.worktree, start=record.branch or record.head)


# Fields before the path in `git status --porcelain=v2` entries: changed, renamed, unmerged.
_V2_FIELDS = {"1": 8, "2": 9, "u": 10}


async def tree_state(repo: GitRepo, worktree: Path) -> tuple[str, str | None, frozenset[str]]:
    """The worktree's HEAD commit, its branch (None: detached) and its status entries ("XY
    path", as porcelain v1 writes them).

    One `git status --porcelain=v2 --branch` answers all (it is called for every idle tree
    after every round): v2 adds the HEAD commit and branch in its `# branch.` headers."""
    raw = await repo.git("status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all",
                         "--no-renames", cwd=worktree)
    head, branch, entries = "", None, set()
    tokens = iter(raw.out.split("\0"))
    for token in tokens:
        kind = token[:1]
        if token.startswith("# branch.oid "):
            head = token.removeprefix("# branch.oid ")
            head = "" if head == "(initial)" else head
        elif token.startswith("# branch.head "):
            name = token.removeprefix("# branch.head ")
            branch = None if name == "(detached)" else name
        elif kind == "?":
            entries.add(f"?? {token[2:]}")
        elif kind in _V2_FIELDS:
            fields = token.split(" ", _V2_FIELDS[kind])
            entries.add(f"{fields[1].replace('.', ' ')} {fields[-1]}")
            if kind == "2":
                next(tokens, None)  # the rename's original path
    return head, branch, frozenset(entries)
