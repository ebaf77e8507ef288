"""Warm worktrees: N detached worktrees kept ready at the base commit under the worktree root,
so that a run *takes* one instead of paying for a `git worktree add` (a full checkout) per task.
`launcher pool warm N` or `[run] warm_pool = N` fills the pool; `launcher clean --all` empties it.

Taking one costs no checkout: the tree already is the base, so the task's branch is created at
the base (`update-ref`, refusing an existing branch) and the worktree's HEAD pointed at it
(`symbolic-ref`). What makes that safe is the check in between: a pool worktree is handed out
only if `git status` (every tracked file's stat, untracked *and* ignored files) finds nothing,
and nothing `git status` does not see is there either (index flags, special files, a git lock
or an operation in progress: `git/pool_check.py`); one that was touched is removed, never reset
and reused, and the task gets a fresh worktree. A
HEAD or index that moved cannot hide from that check, and the file contents cannot hide from
it either, which a stored HEAD + index checksum alone would miss (an edit in place leaves both
as they were). The check runs after the worktree has left the pool (under the repository
lock), so it runs in parallel with the other takes.

A pool worktree is taken only for a brand-new branch: an existing branch (a resumed task's)
goes the usual way, so no work is ever reset.

With `[run] warm_pool = N`, the worktrees of merged tasks go back to the pool (checked out at
the target's new tip and cleaned, index flags and special files included; checked when taken,
like any other) instead of being deleted: on a disk
that has written them out, deleting thousands of files costs seconds per worktree (ext4 with
`discard` trims every freed block), and the next run would only create them again.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path

import anyio

from launcher import process_identity
from launcher.concurrency import each
from launcher.errors import GitFailed
from launcher.git import pool_check, pool_keep, worktree_admin, worktrees
from launcher.git.pool_check import SpecialFiles
from launcher.git.registered import registered_dot_git
from launcher.git.repo import GitRepo

POOL_DIR = "_pool"  # under the worktree root, next to the per-run directories
KEPT_DIR = "kept-"  # a pool entry set aside: it holds work that could not be saved (`_kept_before_removal`)
_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_RESET_PARALLEL = 4  # worktrees reset for the pool at once (git waits on the disk as much as on the CPU)


def pool_root(worktree_root: Path) -> Path:
    return worktree_root / POOL_DIR


def _registered_head(repo: GitRepo, tree: Path) -> str | None:
    """HEAD of a worktree of `repo`, read from its admin directory without a git process: a
    commit id when detached, `ref: ...` on a branch; None when the worktree is locked or its
    `.git` file and its registration do not point at each other."""
    admin = worktree_admin.admin_dir(tree)
    if admin is None or (admin / "locked").exists():
        return None
    if admin.resolve().parent != (repo.common_dir / "worktrees").resolve():
        return None
    try:
        head = (admin / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    registered = registered_dot_git(admin)
    return head if registered is not None and registered.resolve() == (tree / ".git").resolve() else None


def _pool_trees(worktree_root: Path) -> list[Path]:
    """The pool's entries; one set aside with work that could not be saved is none of them."""
    root = pool_root(worktree_root).absolute()
    return sorted(tree for tree in root.iterdir() if not tree.name.startswith(KEPT_DIR)) if root.is_dir() else []


def _usable_head(repo: GitRepo, tree: Path) -> str | None:
    """The commit a pool worktree is detached at, if it is registered and checked out."""
    head = _registered_head(repo, tree) if tree.is_dir() else None
    if head is not None and _COMMIT_ID.fullmatch(head) and worktrees.is_populated(tree):
        return head
    return None


def _entries(repo: GitRepo, worktree_root: Path) -> list[tuple[Path, str]]:
    """The pool's worktrees that are detached, registered and checked out, with their commit."""
    return [(tree, head) for tree in _pool_trees(worktree_root) if (head := _usable_head(repo, tree))]


async def ready(repo: GitRepo, worktree_root: Path) -> list[Path]:
    """The pool's usable worktrees: registered, detached, present and unlocked."""
    return [tree for tree, _head in _entries(repo, worktree_root)]


def elsewhere(repo: GitRepo, worktree_root: Path, sha: str) -> int:
    """How many of the pool's usable worktrees are detached at another commit than `sha` (warmed
    at an older base): a take checks the difference out."""
    return sum(1 for _tree, head in _entries(repo, worktree_root) if head != sha)


def being_filled(repo: GitRepo, worktree_root: Path) -> list[Path]:
    """The pool's worktrees registered but not checked out yet whose launcher is alive: another
    `pool warm` (or a run's refill) is still checking them out, and they count as the pool's."""
    return [tree for tree in _pool_trees(worktree_root)
            if tree.is_dir() and not worktrees.is_populated(tree) and _filler_alive(tree)
            and _registered_head(repo, tree) is not None]


def _new_entry(worktree_root: Path) -> Path:
    """A new entry's path, named after this launcher: `w<pid>t<start time>-<hex>` (the start
    time tells this launcher from a later process the kernel gives its pid once it is gone)."""
    started = process_identity.start_time(os.getpid())
    me = f"{os.getpid()}" if started is None else f"{os.getpid()}t{started}"
    return pool_root(worktree_root).absolute() / f"w{me}-{os.urandom(3).hex()}"


async def warm(repo: GitRepo, worktree_root: Path, count: int, base: str = "HEAD") -> list[Path]:
    """Top the pool up to `count` worktrees detached at `base`; return the new ones."""
    sha = await repo.rev_parse(base)
    registered: list[Path] = []
    try:
        async with repo.lock.hold():
            await _remove_abandoned(repo, worktree_root)
            # Entries another launcher is still checking out count too: two `pool warm N` at once
            # (or a run's refill beside one) would otherwise fill the pool to 2N.
            have = len(_entries(repo, worktree_root)) + len(being_filled(repo, worktree_root))
            pool_root(worktree_root).mkdir(parents=True, exist_ok=True)
            for _ in range(max(0, count - have)):
                path = _new_entry(worktree_root)
                registered.append(path)  # before: a Ctrl-C during the add may leave it registered
                await worktrees.add(repo, "--quiet", "--detach", "--no-checkout", path=path, start=sha)
        # The checkouts run outside the lock, several at once; a worktree counts as part of the pool
        # (`_entries`) only once its index exists, i.e. when its checkout has finished.
        await each(registered, lambda path: _fill(repo, path), _RESET_PARALLEL)
    except BaseException:  # Ctrl-C, a failed checkout: no half-made worktree stays registered
        with anyio.CancelScope(shield=True):
            await _discard_unfilled(repo, registered)
        raise
    await _settle_indexes(repo, registered)
    return registered


def _filled_by(tree: Path) -> tuple[int, int | None] | None:
    """The pid and start time of the launcher that made a pool entry (its name is
    `w<pid>t<start time>-<hex>`, or `w<pid>-<hex>` by an older launcher: no start time)."""
    head, sep, _rest = tree.name.partition("-")
    pid, _t, started = head[1:].partition("t")
    if not (sep and head.startswith("w") and pid.isdigit() and (started.isdigit() or not _t)):
        return None
    return int(pid), int(started) if started else None


def _filler_alive(tree: Path) -> bool:
    """Whether the launcher that made a pool entry still runs (this one, or a live process with
    its pid and start time: not a later process that got the pid of one killed while warming)."""
    filler = _filled_by(tree)
    if filler is None:
        return False
    return process_identity.alive(*filler)


async def _remove_abandoned(repo: GitRepo, worktree_root: Path) -> None:
    """Pool entries registered but never checked out whose launcher is gone (killed while
    warming): removed, so they neither pile up beside new ones nor stay registered. One whose
    launcher is still alive is still being filled. Caller holds the lock."""
    for tree in _pool_trees(worktree_root):
        if (_filled_by(tree) is None or _filler_alive(tree) or worktrees.is_populated(tree)
                or _registered_head(repo, tree) is None):
            continue
        if not (await repo.git("worktree", "remove", "--force", "--force", str(tree), check=False,
                               timed_out_ok=True)).ok:  # (stopped at its time limit too: deleted by hand)
            shutil.rmtree(tree, ignore_errors=True)
            await worktrees.forget(repo, tree)


async def _discard_unfilled(repo: GitRepo, trees: list[Path]) -> None:
    """Remove the worktrees of `trees` whose checkout has not finished (no index yet)."""
    unfilled = [tree for tree in trees if not worktrees.is_populated(tree)]
    if unfilled:
        await worktrees.remove_worktrees(repo, [(tree, None) for tree in unfilled])


async def _fill(repo: GitRepo, path: Path) -> None:
    """Check a new pool worktree out; one already gone (`clean --all` meanwhile) is skipped."""
    try:
        await worktrees.populate(repo, path)
    except (OSError, GitFailed):
        if path.exists():
            raise


async def _settle_indexes(repo: GitRepo, trees: list[Path]) -> None:
    """Rewrite each new index once the clock has left the second its files were written in.

    git compares file and index times in whole seconds: a file as new as its index is "racily
    clean" and every `git status` or `git add` re-reads it in full until the index is written
    again later. A pool is warmed ahead of its use, so it is warmed with that already done."""
    if not trees:
        return
    await anyio.sleep(1.05 - time.time() % 1.0)

    async def settle(tree: Path) -> None:  # only a speed-up: a failure (a run took it) is fine
        with contextlib.suppress(OSError):  # gone: taken by a run, or removed by `clean --all`
            await repo.git("update-index", "-q", "--refresh", "--force-write-index", cwd=tree, check=False)

    await each(trees, settle, _RESET_PARALLEL)


async def _move(repo: GitRepo, tree: Path, dest: Path) -> bool:
    """`git worktree move` for a pool worktree, done as git does it (rename the directory, then
    point its registration at the new place) without a git process per move: the moves are
    made under the repository lock, one after another. Anything unusual (a relative `.git`
    link, submodules, which git refuses to move) goes through git itself. Caller holds the lock."""
    admin = worktree_admin.admin_dir(tree)
    try:
        link = (tree / ".git").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    if admin is None or not Path(link.removeprefix("gitdir:").strip()).is_absolute() or (admin / "modules").exists():
        return (await repo.git("worktree", "move", str(tree), str(dest), check=False)).ok
    try:
        os.rename(tree, dest)  # fails if dest exists and is not an empty directory
    except OSError:
        return False
    (admin / "gitdir").write_bytes(os.fsencode(f"{(dest / '.git').resolve()}\n"))  # the path's own bytes
    return True


async def take(repo: GitRepo, worktree_root: Path, *, path: Path, branch: str, start: str,
               special_files: SpecialFiles, notes: list[str] | None = None) -> bool:
    """Turn a pool worktree into `path` on a new `branch` at `start`; False if there is none
    to take (or the branch already exists, or the worktree taken was not pristine: it is then
    removed, what someone left in it kept first and said in `notes`), and the caller creates
    the worktree as usual."""
    path = path.absolute()
    start_sha = start if _COMMIT_ID.fullmatch(start) else await repo.rev_parse(start)
    async with repo.lock.hold():
        if path.exists():
            return False
        if not await _take_one(repo, worktree_root, path, start_sha):
            return False
    # Checked outside the lock (the worktree is ours alone now), so takes check in parallel.
    if (await _head_is_ours(repo, path, start_sha) and await pool_check.pristine(repo, path, special_files)
            and await pool_check.sparse_as_main(repo, path) and await _detach_at(repo, path, start_sha)):
        async with repo.lock.hold():
            # The empty old value: only if no such branch exists (a resumed task's goes the usual way).
            created = await repo.git("update-ref", f"refs/heads/{branch}", start_sha, "", check=False)
        if created.ok:  # HEAD is the worktree's own: no lock needed
            await repo.git("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=path)
            return True
    if await _kept_before_removal(repo, worktree_root, path, notes if notes is not None else []):
        await worktrees.remove_worktree(repo, path)  # never handed out as it was found
    return False


async def _head_is_ours(repo: GitRepo, tree: Path, start_sha: str) -> bool:
    """The pool worktree's HEAD is the start commit, or one a ref holds (a pool warmed at an
    older base): not a commit made in it by hand, which the checkout of the start would drop."""
    head = _registered_head(repo, tree)
    if head == start_sha:
        return True
    try:
        return head is not None and not await pool_keep.on_no_ref(repo, head)
    except GitFailed:
        return False


def _first_line(exc: Exception) -> str:
    """git's reason, without the advice paragraphs it adds (a stale `index.lock`'s)."""
    return next(iter(str(exc).strip().splitlines()), type(exc).__name__)[:300]


async def _kept_before_removal(repo: GitRepo, worktree_root: Path, tree: Path, notes: list[str]) -> bool:
    """Keep what someone left in a pool worktree about to be removed (`git/pool_keep.py`);
    False when it could not be kept: the worktree is then set aside in the pool as
    `kept-<hex>`, which no run takes and `launcher clean --all` leaves, and never removed."""
    try:
        kept = await pool_keep.keep(repo, tree, f"{tree.parent.name}/{tree.name}")  # <run>/<task>
    except (GitFailed, OSError) as exc:
        aside = pool_root(worktree_root).absolute() / f"{KEPT_DIR}{os.urandom(3).hex()}"
        async with repo.lock.hold():
            moved = await _move(repo, tree, aside)
        where = aside if moved else tree
        notes.append(f"a warm worktree held changes that could not be saved ({_first_line(exc)}); it is left "
                     f"at {where}: look at it, then `git worktree remove --force {where}`")
        return False
    if kept is not None:
        ref, how = kept
        notes.append(f"a warm worktree held what no branch has (changes, or a commit on its detached HEAD): "
                     f"kept as {ref} ({how}; `git update-ref -d {ref}` drops it); the task got a fresh worktree")
    return True


async def _take_one(repo: GitRepo, worktree_root: Path, path: Path, start_sha: str) -> bool:
    """Move one pool worktree to `path`, preferring one already at `start_sha` (no checkout).
    The pool is checked lazily: the takes run one after another under the lock, and checking
    every entry for each take made N takes cost N² checks. Caller holds the lock."""
    elsewhere: list[Path] = []
    for tree in _pool_trees(worktree_root):
        head = _usable_head(repo, tree)
        if head is None:
            continue
        if head != start_sha:
            elsewhere.append(tree)
        elif await _move(repo, tree, path):
            return True  # out of the pool: no other run or task can take it now
    for tree in elsewhere:
        if await _move(repo, tree, path):
            return True
    return False


async def _detach_at(repo: GitRepo, tree: Path, sha: str) -> bool:
    """A pristine pool worktree at another commit (the pool was warmed at an older base): check
    out `sha`, which touches only the files that differ."""
    if _registered_head(repo, tree) == sha:
        return True
    return (await repo.git("checkout", "--quiet", "--detach", sha, cwd=tree, check=False)).ok


async def recycle(repo: GitRepo, worktree_root: Path, trees: list[Path], tip: str, room: int,
                  special_files: SpecialFiles) -> list[Path]:
    """Put up to `room` of `trees` (worktrees whose work has landed) back in the pool, detached
    at `tip` and pristine; return the ones that went back. The rest stay for removal; their
    branches are the caller's to delete."""
    candidates = [tree.absolute() for tree in trees if _registered_head(repo, tree.absolute())][:max(0, room)]
    reset: list[Path] = []

    async def reset_one(tree: Path) -> None:
        if await _reset_for_pool(repo, tree, tip, special_files):
            reset.append(tree)

    await each(candidates, reset_one, _RESET_PARALLEL)
    returned: list[Path] = []
    async with repo.lock.hold():
        pool_root(worktree_root).mkdir(parents=True, exist_ok=True)
        for tree in reset:
            if await _move(repo, tree, _new_entry(worktree_root)):
                returned.append(tree)
                with contextlib.suppress(OSError):  # the run directory, once its last task is gone
                    tree.parent.rmdir()
    return returned


async def _reset_for_pool(repo: GitRepo, tree: Path, tip: str, special_files: SpecialFiles) -> bool:
    """Detach a finished task's worktree at `tip` and remove everything untracked or ignored.
    What a checkout and `git clean -ffdx` leave goes too: index flags its agent set (assume-
    unchanged, skip-worktree: they would hide the next task's edit of that file from its commit;
    a checkout passes over their files, so it is made again once they are cleared) and special
    files (a FIFO, a dev server's socket). One with a git lock or an operation in progress in its
    admin dir is not recycled."""
    for cleared in (False, True):
        if pool_check.busy(tree):
            return False
        checkout = await repo.git("checkout", "--quiet", "--force", "--detach", tip, cwd=tree, check=False)
        if not checkout.ok or pool_check.busy(tree):
            return False
        if not (await repo.git("clean", "-ffdxq", cwd=tree, check=False)).ok:
            return False
        if not await pool_check.remove_special_files(tree, special_files):
            return False
        # whoever takes it checks that it is pristine (`take`), so no full check here
        if await pool_check.holds_no_flags(repo, tree) or cleared:
            return True
        if not await pool_check.clear_index_flags(repo, tree):
            return False
    return True


async def drain(repo: GitRepo, worktree_root: Path, *, save: bool = True) -> list[str]:
    """Remove every pool worktree (and the pool directory). With `save`, what someone left in
    one (an edit, a commit on its detached HEAD) is kept first (`git/pool_keep.py`), and one
    whose work cannot be kept stays where it is."""
    root = pool_root(worktree_root)
    removed: list[str] = []
    left = False
    async with repo.lock.hold():
        resolved = root.resolve()
        for info in await worktrees.list_worktrees(repo):
            if info.path.resolve().parent != resolved:
                continue
            if save and info.path.is_dir() and worktrees.is_populated(info.path):
                try:
                    kept = await pool_keep.keep(repo, info.path, lock_held=True)
                except (GitFailed, OSError) as exc:
                    left = True
                    removed.append(f"kept warm worktree {info.path}: it holds changes that could not be saved "
                                   f"({_first_line(exc)}); look at it, then `git worktree remove --force {info.path}`")
                    continue
                if kept is not None:
                    removed.append(f"kept the work found in warm worktree {info.path} as {kept[0]}: {kept[1]}")
            await repo.git("worktree", "remove", "--force", "--force", str(info.path), check=False)
            removed.append(f"removed warm worktree {info.path}")
            await worktrees.forget(repo, info.path)  # if its directory was already gone
    if root.is_dir() and not left:
        shutil.rmtree(root, ignore_errors=True)
    return removed
