"""What keeps a judge inside its read-only checkout (DESIGN 7.4, 14), checked around its calls.

The judge runs on a scratch checkout of the same repository (a linked worktree: `git rev-parse
--git-common-dir` leads it to the main checkout and the shared git directory), so it gets the
containment agents of a run get, from the same pieces: before its first call the shared git
directory's hooks and config (git/guard.py), the main checkout's index (git/index_guard.py), the
shared refs and main HEAD (git/ref_guard.py) and the main checkout's files (engine/tree_guard.py)
are recorded; after each call whatever it changed there is put back (engine/main_restore.py: its
versions moved aside, never deleted) and listed, and the judge's verdict is not used. Only one
judge runs at a time and nothing else of the launcher writes there meanwhile, so what changed in
its window is its doing, except a fast-forward of a branch by commits it did not make (the
user's commit) and a new branch, which are left as they are.

The user keeps working in the main checkout meanwhile. Right before each call, the files that
differ from the record (saved since) are read (gates/judge_call_copy.py): one that holds the same
after the call is not the judge's doing, and one changed during it is put back as it was right
before that call, never as the older record. A change made during a call may be the user's save:
it is moved aside all the same (the launcher cannot tell), and what is said says so.

The judge run's own directory (a sweep's, or a calibration run's under `.launcher/`) is outside
those watches, yet `label` and `fix` take its `verdict.json` for the judge's call: its entries are
recorded too, and whatever the judge adds or changes there (a `verdict.json` of its own making, a
rewritten `survivors.jsonl`) is moved aside, so that only the launcher writes the verdict.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from launcher import wall_clock
from launcher.engine import main_restore, tree_guard
from launcher.gates import judge_call_copy
from launcher.git import config_keys, guard, index_guard, ref_guard, shallow_file, worktree_admin
from launcher.git.ref_updates import unused_ref
from launcher.git.repo import GitRepo
from launcher.store import own_files
from launcher.store.files import STATE_DIR_NAME, utc_stamp


@dataclass
class JudgeWatch:
    """The record taken before the judge's first call; `check` after each call."""

    repo: GitRepo
    scratch: Path
    git_dir: guard.GitDirSnapshot
    index: index_guard.IndexGuard
    refs: ref_guard.RefState
    contents: tree_guard.MainTreeSnapshot
    status: set[str]  # `git status` entries of the main checkout before
    own: tuple[str, ...]  # paths of the main checkout the launcher itself writes (the run dir's judge/ too)
    run_dir: RunDirWatch | None = None  # the judge run's own directory under .launcher/
    started: float = field(default_factory=wall_clock.stamp)
    # What differed from the record right before the current call (`before_call`)
    call: judge_call_copy.CallCopy = field(default_factory=judge_call_copy.CallCopy)

    @classmethod
    async def start(cls, repo: GitRepo, scratch: Path, run_dir: RunDirWatch | None = None) -> JudgeWatch:
        own = [f"{STATE_DIR_NAME}/"]
        with contextlib.suppress(ValueError):  # a scratch inside the checkout (a configured worktree root)
            own.append(str(scratch.resolve().relative_to(repo.root.resolve())) + "/")
        if run_dir is not None:  # a run dir in the checkout (`mutation merge -o merged`): its launcher files
            with contextlib.suppress(ValueError):
                inside = run_dir.root.resolve().relative_to(repo.root.resolve()).as_posix()
                own += [f"{inside}/{name}/" for name in sorted(run_dir.skip)]
        if (admin := worktree_admin.admin_dir(scratch)) is not None:  # its commits known even with reflogs off
            ref_guard.keep_reflog(admin / "logs" / "HEAD")
        snapshot = await anyio.to_thread.run_sync(guard.take_snapshot, repo.common_dir)
        index = await anyio.to_thread.run_sync(index_guard.IndexGuard, repo.git_dir)
        async with repo.lock.hold():
            refs = await ref_guard.read_state(repo)
        contents = await tree_guard.take_main_snapshot(repo, [], tuple(own))
        status = set(await repo.status_porcelain())
        return cls(repo, scratch, snapshot, index, refs, contents, status, tuple(own), run_dir)

    async def before_call(self) -> None:
        """Right before each call: what differs from the record now (the user's saves since it
        was taken) is read, so that the call's check neither blames the judge for it nor puts the
        older record back over it."""
        status = await self.repo.status_porcelain()
        differ = {entry[3:] for entry in status if entry not in self.status and len(entry) > 3 and entry[2] == " "}
        differ |= set(await anyio.to_thread.run_sync(tree_guard.changed_since, self.contents, self.started))
        differ = {rel for rel in differ if not _is_own(rel, self.own)}
        self.call = await anyio.to_thread.run_sync(judge_call_copy.take, self.repo.root, differ)

    async def check(self, aside: Path) -> list[str]:
        """Put back what the judge changed outside its checkout; one line per thing put back
        (empty: nothing). `aside`: where its versions of changed files are kept."""
        found: list[str] = []
        async with self.repo.lock.hold():
            # What git itself wrote for a fetch (a shallow tip, a promisor remote's keys) stays.
            keys = await config_keys.take_in(self.repo, self.git_dir)
            await shallow_file.judge_shallow(self.repo, self.git_dir)
            undone = await anyio.to_thread.run_sync(guard.undo_tampering, self.git_dir, aside / "git-dir")
            if keys is not None:
                await config_keys.keep_after(self.repo, self.git_dir, keys)
            if undone is not None:
                found.append(f"the shared git directory {self.repo.common_dir} ({undone[0]}): put back")
            damage = await anyio.to_thread.run_sync(self.index.check)
            if damage is not None:
                found.append(f"the main checkout's git index {self.index.path} ({damage.what}): put back")
            found += await self._refs(aside)
        found += await self._main_checkout(aside / "main-checkout")
        if self.run_dir is not None:
            found += await anyio.to_thread.run_sync(self.run_dir.check, aside / "run-dir")
        return found

    async def _refs(self, aside: Path) -> list[str]:
        now = await ref_guard.read_state(self.repo)
        made = await self._scratch_commits()
        judges = []
        for change in ref_guard.changes(self.repo, self.refs, now):
            if change.old is None and change.ref.startswith("refs/heads/"):
                continue  # a new branch moves nobody's work
            if await ref_guard.is_fast_forward(self.repo, change) and not (
                    set(await ref_guard.added_commits(self.repo, change)) & made):
                continue  # the user's own commit, made while the judge ran
            judges.append(change)
        if not judges:
            self.refs = now
            return []
        kept = await unused_ref(self.repo, f"refs/launcher/judge/{utc_stamp()}")  # never an earlier call's
        checked_out = self.refs.head.removeprefix("ref: ")  # the main checkout's branch, before the call
        problems = await ref_guard.undo(self.repo, judges, kept)
        self.refs = await ref_guard.read_state(self.repo)
        listed = "; ".join(change.describe() for change in judges)
        left = f", except {', '.join(problems)}" if problems else ""
        return [f"refs of the shared repository ({listed}): put back{left}"
                + (f" (what it set is kept under {kept}/{_if_yours(judges, kept, checked_out)})"
                   if ref_guard.keeps_any(judges) else "")]

    async def _scratch_commits(self) -> set[str]:
        admin = worktree_admin.admin_dir(self.scratch)
        return ref_guard.reflog_commits(admin / "logs" / "HEAD") if admin is not None else set()

    async def _main_checkout(self, aside: Path) -> list[str]:
        root = self.repo.root
        changed = [entry[3:] for entry in await self.repo.status_porcelain()
                   if entry not in self.status and len(entry) > 3 and entry[2] == " "]  # (not a rename's source)
        changed += await anyio.to_thread.run_sync(tree_guard.changed_since, self.contents, self.started)
        # (a file the user changed before the call, then changed again during it: its status may not change)
        changed += await anyio.to_thread.run_sync(judge_call_copy.changed_in_call, root, self.call)
        mine = [rel for rel in dict.fromkeys(changed) if not _is_own(rel, self.own)
                and not judge_call_copy.holds(root, self.call, rel)]  # as right before the call: not its doing
        if mine:  # what another launcher process wrote there (its output files, its ledgers)
            known = own_files.load(root)
            mine = [rel for rel in mine if not own_files.written_by_a_launcher(root, rel, known)]
        if not mine:
            return []
        earlier = [rel for rel in mine if self.call.covers(rel)]  # changed since the record: not its copy
        plain = sorted(rel for rel in mine if not self.call.covers(rel))
        described: list[str] = []
        async with self.repo.lock.hold():
            if plain:
                put = await main_restore.put_back(self.repo, self.contents, {e[3:] for e in self.status}, plain,
                                                  aside, writer="the judge")  # fmt: skip
                described += put.described
            if earlier:
                described += await anyio.to_thread.run_sync(judge_call_copy.put_back, root, self.call, earlier, aside)
        return [f"the main checkout {root}: {', '.join(described)}; {MAYBE_YOURS}"]


# What is moved aside from the main checkout may be the user's own save, made while the judge ran.
MAYBE_YOURS = ("each version moved aside is what was there after the judge's call: its write, or a save of "
               "yours made during it (the launcher cannot tell them apart): copy back what is yours from there")


def _if_yours(changes: list[ref_guard.RefChange], kept: str, checked_out: str) -> str:
    """How to take a moved branch back when the move was the user's own, made while the judge
    ran (an amend, a reset, a rebase): the launcher cannot tell it from the judge's."""
    takes = []
    for change in changes:
        if change.new is None or change.ref == ref_guard.HEAD or change.ref.startswith("refs/replace/"):
            continue
        at = f"{kept}/{change.ref.removeprefix('refs/')}"
        takes.append(f"`git reset --keep {at}` (on {change.ref.removeprefix('refs/heads/')})"
                     if change.ref == checked_out else f"`git update-ref {change.ref} {at}`")
    if not takes:
        return ""
    return ("; it may be a change of yours made while the judge ran (the launcher cannot tell them apart): "
            f"if so, take it back with {' and '.join(takes)}")


def _is_own(rel: str, own: tuple[str, ...]) -> bool:
    return any(rel == p.rstrip("/") or (p.endswith("/") and rel.startswith(p)) for p in own)


Entry = tuple[int, int, int, int]  # mode, inode, size, mtime (ns) of a directory entry, not followed


@dataclass
class RunDirWatch:
    """The top-level entries of the judge run's directory, but for the names the launcher writes
    there while the judge runs (its work directory, its lock, a concurrent `fix`'s directory)."""

    root: Path
    skip: frozenset[str]
    before: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def start(cls, root: Path, skip: frozenset[str]) -> RunDirWatch:
        watch = cls(root, skip)
        watch.before = watch._entries()
        return watch

    def _entries(self) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        with contextlib.suppress(FileNotFoundError), os.scandir(self.root) as listing:
            for item in listing:
                if item.name in self.skip:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    st = item.stat(follow_symlinks=False)
                    found[item.name] = (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns)
        return found

    def check(self, aside: Path) -> list[str]:
        """Move what the judge added or changed in the run's directory to `aside`; one line saying
        so (empty: nothing changed)."""
        now = self._entries()
        added = sorted(name for name in now if name not in self.before)
        changed = sorted(name for name in now if name in self.before and now[name] != self.before[name])
        removed = sorted(name for name in self.before if name not in now)
        if not (added or changed or removed):
            return []
        aside.mkdir(parents=True, exist_ok=True)
        for name in added + changed:
            with contextlib.suppress(FileNotFoundError):
                shutil.move(str(self.root / name), str(aside / name))
        self.before = self._entries()
        what = [f"{name} added" for name in added] + [f"{name} changed" for name in changed]
        what += [f"{name} deleted" for name in removed]
        again = " (sweep again for a sweep's own files)" if changed or removed else ""
        return [f"the judge run's directory {self.root} ({', '.join(what)}): its versions moved aside, "
                f"not used{again}"]  # fmt: skip
