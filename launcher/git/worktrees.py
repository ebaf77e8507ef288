"""Worktrees: one per task, on branch `launcher/<run>/<task>`, outside the main tree by default.

Every mutation of shared git state (worktree add/remove/prune/lock, branch delete) runs under
`repo.lock`. That lock is not re-entrant, so the public functions take it once and call
private `_..._locked` helpers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from launcher import process
from launcher.concurrency import each
from launcher.errors import GitFailed
from launcher.git import guard, path_lists, tree_trash
from launcher.git.repo import GitRepo
from launcher.git.tree_trash import remove_dir
from launcher.git.worktree_admin import admin_dir, lock_cmd, lock_worktree, unlock_worktree  # noqa: F401  (tests import them from here)

BRANCH_PREFIX = "launcher"
_REMOVE_PARALLEL = 8  # worktrees git removes at once (see `remove_worktrees`)


@dataclass
class WorktreeInfo:
    path: Path
    head: str | None
    branch: str | None  # short name (`launcher/r/t`), None when detached or bare
    locked: bool
    prunable: bool
    detached: bool
    lock_reason: str | None = None
    bare: bool = False
    unrecorded: bool = False  # a --separate-git-dir main work tree seen from elsewhere: `path` is its git dir

    def said(self) -> str:
        """The checkout as a user can find it."""
        if self.unrecorded:
            return ("the repository's main work tree (a --separate-git-dir repository: git does not record "
                    f"where that work tree is; it is the directory whose .git file points at {self.path})")
        return f"the worktree {self.path}"


def default_worktree_root(repo: GitRepo, configured: str | None) -> Path:
    """Where this repository's worktrees live (one subdirectory per run)."""
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else repo.root / path
    cache = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative value.
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    resolved = str(repo.root.resolve())
    hash8 = hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return base / "launcher" / "worktrees" / f"{repo.root.name}-{hash8}"


def branch_name(run_id: str, task_id: str) -> str:
    return f"{BRANCH_PREFIX}/{run_id}/{task_id}"


INTEGRATION = "_integration"  # task ids start with [a-z0-9], so no task branch can be named so
GRADING = "_grading"  # under <root>/<run>/: a grading round's scratch tree of the graded commit
LEGACY_INTEGRATION = "integration"  # the old name, which a task of that id shared


def integration_branch(run_id: str) -> str:
    """Where a landing that cannot move the target is kept (`-2`, `-3`... when taken)."""
    return f"{BRANCH_PREFIX}/{run_id}/{INTEGRATION}"


def is_integration_branch(run_id: str, branch: str) -> bool:
    first = integration_branch(run_id)
    return branch == first or (branch.startswith(first + "-") and branch[len(first) + 1:].isdigit())


async def integration_branches(repo: GitRepo, run_id: str) -> list[str]:
    """The run's integration branches that exist (the first one, then `-2`, `-3`...)."""
    found = [b for b in await list_launcher_branches(repo, run_id) if is_integration_branch(run_id, b)]
    return sorted(found, key=lambda b: (len(b), b))


def same_path(a: Path, b: Path) -> bool:
    # Resolve both sides: git records the path as given, which may go through a symlink.
    return a.resolve() == b.resolve()


def is_under(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _parse_porcelain(output: str) -> list[WorktreeInfo]:
    """Parse `git worktree list --porcelain -z`: NUL-terminated lines, records end with NUL."""
    infos: list[WorktreeInfo] = []
    current: WorktreeInfo | None = None
    for line in output.split("\0"):
        if not line:
            if current is not None:
                infos.append(current)
            current = None
            continue
        key, _, value = line.partition(" ")
        if key == "worktree":
            current = WorktreeInfo(Path(value), None, None, False, False, False)
        elif current is None:
            continue
        elif key == "HEAD":
            current.head = value
        elif key == "branch":
            current.branch = value.removeprefix("refs/heads/")
        elif key == "detached":
            current.detached = True
        elif key == "bare":
            current.bare = True
        elif key == "locked":
            current.locked = True
            current.lock_reason = value or None
        elif key == "prunable":
            current.prunable = True
    if current is not None:
        infos.append(current)
    return infos


async def list_worktrees(repo: GitRepo) -> list[WorktreeInfo]:
    result = await repo.git("worktree", "list", "--porcelain", "-z")
    infos = _parse_porcelain(result.out)
    if infos and not infos[0].bare and same_path(infos[0].path, repo.common_dir):
        # A --separate-git-dir repository: git lists its git dir as the main work tree, whose place
        # it does not record. Known here only when the launcher runs in it (`show-toplevel`).
        if same_path(repo.git_dir, repo.common_dir):
            infos[0].path = repo.root
        else:
            infos[0].unrecorded = True
    return infos


async def add(repo: GitRepo, *options: str, path: Path, start: str, check: bool = True) -> process.Completed:
    """`git worktree add OPTIONS PATH START`, every one the launcher makes (caller holds the
    repository lock). What git writes into the new worktree's admin dir besides its checkout
    (a sparse checkout's `config.worktree`) is recorded as the launcher's (`guard`)."""
    done = await repo.git("worktree", "add", *options, str(path), start, check=check)
    if done.ok:
        guard.launcher_added_worktree(repo.common_dir, admin_dir(path))
    return done


async def _find(repo: GitRepo, path: Path) -> WorktreeInfo | None:
    for info in await list_worktrees(repo):
        if same_path(info.path, path):
            return info
    return None


async def create_worktree(repo: GitRepo, *, path: Path, branch: str, start: str) -> None:
    """`git worktree add -b <branch> <path> <start>`; a repeat of the same call is a no-op.

    Done as git itself does it, in two steps: the worktree is registered (`--no-checkout`) under
    the repository lock, then its files are checked out outside the lock, so that many tasks'
    checkouts run at once instead of one after another (the checkout writes only this worktree's
    own index and files). A worktree registered but never filled (a launcher killed in between)
    is filled by the next call: it has no index yet."""
    path = path.absolute()
    async with repo.lock.hold():
        await _register(repo, path, branch, start)
    await populate(repo, path)


async def _register(repo: GitRepo, path: Path, branch: str, start: str) -> None:
    """The `git worktree add --no-checkout` step of `create_worktree`; caller holds the lock."""
    options = ("--quiet", "--no-checkout")
    if not path.exists():
        # The common case, in one git call; anything unusual falls through to the checks.
        path.parent.mkdir(parents=True, exist_ok=True)
        fast = await add(repo, *options, "--no-track", "-b", branch, path=path, start=start, check=False)
        if fast.ok:
            return
    existing = await _find(repo, path)
    if existing is not None and existing.prunable:
        await forget(repo, existing.path)  # registered, but its directory vanished
        existing = await _find(repo, path)
    if existing is not None and existing.detached:
        # A warm-pool worktree (they are detached) moved here by a take that was cut short:
        # its check may not have run, so it goes and the task gets a fresh one. Nothing of the
        # task's is in it: this runs only before the task's agent ever started.
        await remove_locked(repo, path)
        existing = None
    if existing is not None:
        if existing.branch == branch:
            return  # an earlier attempt got this far (`populate` fills it if it got no further)
        raise GitFailed(
            f"{path} is already a worktree on {existing.branch or 'a detached HEAD'}",
            where=str(path),
            fix="run `launcher clean` for the run that left it behind",
        )
    _clear_stale_dir(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    start_sha = await repo.rev_parse(start)
    if await repo.branch_exists(branch):
        # Reuse a branch left at the start commit; never reset one that has work on it.
        if (tip := await repo.rev_parse(branch)) != start_sha:
            raise GitFailed(
                f"branch {branch} already exists at {tip[:12]}, not at {start[:12]}: it may hold an "
                "agent's work, which the launcher never resets or deletes",
                where=str(repo.root),
                fix=f"keep its commits under another name (`git branch -m {branch} kept/{branch}`), "
                    "then run this again",
            )
        await add(repo, *options, path=path, start=branch)
    else:
        await add(repo, *options, "--no-track", "-b", branch, path=path, start=start_sha)


def is_populated(path: Path) -> bool:
    """Whether a registered worktree's checkout finished: git writes its index last."""
    admin = admin_dir(path)
    return admin is not None and (admin / "index").is_file()


async def populate(repo: GitRepo, path: Path) -> None:
    """Check out HEAD's files and index in a worktree registered with `--no-checkout` (what
    `git worktree add` runs itself: its checkout step); nothing if it has an index already.
    Only this worktree's own index and files are written, so no repository lock is needed."""
    admin = admin_dir(path)
    if admin is None:
        raise GitFailed(
            f"{path} is not a worktree (its `.git` file is missing or unreadable)",
            where=str(path), fix="run `launcher clean` for the run that left it behind",
        )
    if (admin / "index").is_file():
        return
    # Left by a checkout killed with its launcher: no index means no git has finished here, and
    # nothing but the launcher writes into a worktree before its agent starts.
    (admin / "index.lock").unlink(missing_ok=True)
    await repo.git("read-tree", "--reset", "-u", "HEAD", cwd=path)


def _clear_stale_dir(path: Path) -> None:
    """An unregistered directory at `path`: remove it only if it is ours to remove."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink():
        if not any(path.iterdir()):
            return  # git accepts an empty directory
        if (path / ".git").is_file():  # a dead worktree whose registration is gone
            shutil.rmtree(path)
            return
    raise GitFailed(
        f"{path} exists and is not a worktree",
        where=str(path),
        fix="move it away or choose another worktree root",
    )


async def delete_branch_locked(repo: GitRepo, branch: str) -> bool:
    """`git branch -D`; False if the branch did not exist."""
    if not await repo.branch_exists(branch):
        return False
    await repo.git("branch", "-D", branch)
    return True


async def remove_locked(repo: GitRepo, path: Path, left: list[str] | None = None) -> bool:
    """Remove the worktree at `path` (registered or not); True if anything was removed. What
    cannot be deleted is not: it stays on disk, False is returned and `left` gets the line
    saying so (`remove_dir`); a later `launcher clean` finds it under the run's directory."""
    info = await _find(repo, path)
    removed = False
    problem: str | None = None
    if info is not None:
        if info.locked:
            await lock_cmd(repo, ["unlock", str(info.path)], "not locked")
        result = await repo.git(  # (stopped at its time limit too: deleted by hand below)
            "worktree", "remove", "--force", "--force", str(info.path), check=False, timed_out_ok=True
        )
        if not result.ok:
            # A broken directory (e.g. its `.git` file deleted): remove it by hand, then prune.
            problem = remove_dir(info.path) if info.path.exists() else None
            await forget(repo, info.path)
        removed = problem is None
    elif path.is_dir() and (path / ".git").is_file():
        problem = remove_dir(path)  # not registered: nothing to forget
        removed = problem is None
    if problem is not None and left is not None:
        left.append(problem)
    with contextlib.suppress(OSError):  # the run directory, once its last task is gone
        path.parent.rmdir()
    return removed


async def remove_worktrees(repo: GitRepo, items: list[tuple[Path, str | None]],
                           left: list[str] | None = None) -> dict[str, str]:
    """Remove many worktrees (locked ones too) and their branches under one lock hold, with one
    `git worktree list` and one `git branch -D`: landing cleans up a whole run at once. A branch
    checked out in a worktree at another path than the one given (`git worktree move`d there by
    someone else) is left with that worktree: returned, branch -> where it is checked out. A
    tree that cannot be deleted stays on disk, `left` getting the line saying so (`remove_dir`).
    Deleting thousands of files per tree is the cost: each tree is moved aside under the lock
    and its files deleted after it, many at once (git/tree_trash.py), before this returns."""
    if not items:
        return {}
    moved: list[Path] = []
    async with repo.lock.hold():
        registered = {info.path.resolve(): info for info in await list_worktrees(repo)}
        broken: list[Path] = []

        async def remove(tree: Path) -> None:
            # Moved aside, git only drops its registration (and `.git/worktrees/<name>`); a tree
            # that cannot be moved is deleted by git here, as its own directory only.
            trash = tree_trash.move_aside(tree)
            done = await repo.git("worktree", "remove", "--force", "--force", str(tree), check=False,
                                  timed_out_ok=True)  # (stopped at its time limit too: deleted by hand below)
            if trash is not None:
                moved.append(trash)
            if not done.ok:
                broken.append(tree)

        trees = [info.path for path, _branch in items
                 if (info := registered.get(path.absolute().resolve())) is not None]
        await each(trees, remove, _REMOVE_PARALLEL)
        for tree in broken:  # e.g. its `.git` file deleted: remove it by hand, then prune
            if tree.exists() and (problem := remove_dir(tree)) is not None and left is not None:
                left.append(problem)
        for path, _branch in items:
            with contextlib.suppress(OSError):  # the run directory, once its last task is gone
                path.absolute().parent.rmdir()
        for tree in broken:
            await forget(repo, tree)
        wanted = {branch for _path, branch in items if branch}
        removed = {tree.resolve() for tree in trees}
        elsewhere = {info.branch: info.said() for info in await list_worktrees(repo)
                     if info.branch and info.branch in wanted and info.path.resolve() not in removed
                     and info.path.exists()}
        existing = await repo.git("for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads/launcher/")
        doomed = sorted(wanted & set(existing.out.split()) - set(elsewhere))
        for batch in path_lists.batches(doomed):  # a run of thousands of tasks: never one argv
            await repo.git("branch", "-D", *batch)
    undeleted = await tree_trash.delete_all(moved, remove_dir)
    if left is not None:
        left += undeleted
    for path, _branch in items:
        with contextlib.suppress(OSError):  # the run directory, once its last task is gone
            path.absolute().parent.rmdir()
    return elsewhere


async def remove_worktree(
    repo: GitRepo, path: Path, *, branch: str | None = None, delete_branch: bool = False
) -> None:
    """Remove a worktree (even locked or broken) and, if asked, its branch."""
    path = path.absolute()
    async with repo.lock.hold():
        info = await _find(repo, path)
        if delete_branch and branch is None and info is not None:
            branch = info.branch
        await remove_locked(repo, path)
        if delete_branch and branch:
            await delete_branch_locked(repo, branch)


async def branch_has_changes(repo: GitRepo, branch: str, base_sha: str) -> bool:
    """Whether `branch` moved away from `base_sha`.

    Any new commit counts, even one whose tree equals the base's: the branch is only deleted
    when it has nothing at all, so no commit (and its message) is ever lost. (When the heads
    are equal the diff is necessarily empty, so comparing heads is enough.)
    """
    head = await repo.rev_parse(branch)
    return head != await repo.rev_parse(base_sha)


async def forget(repo: GitRepo, path: Path) -> None:
    """Drop the registration of a worktree of ours whose directory is gone: `git worktree prune`
    for that one only. A prune of the whole repository would also drop the user's own
    worktrees that were moved by hand, which `git worktree repair` could still bring back (git
    itself keeps them for `gc.worktreePruneExpire`, 3 months). Caller holds the lock."""
    if not path.exists():
        await repo.git("worktree", "remove", "--force", "--force", str(path), check=False)


async def reconcile(repo: GitRepo, root: Path) -> list[str]:
    """Forget registrations under `root` whose directory vanished; return what was fixed."""
    notes: list[str] = []
    async with repo.lock.hold():
        before = await list_worktrees(repo)
        for info in before:
            gone = not info.path.exists()
            if gone and info.locked and is_under(info.path, root):
                # `git worktree prune` skips locked entries; ours are locked while an agent
                # runs, so a crash followed by `rm -rf` would otherwise stick forever.
                await lock_cmd(repo, ["unlock", str(info.path)], "not locked")
                notes.append(f"unlocked {info.path} (its directory vanished)")
            if gone and is_under(info.path, root):
                await forget(repo, info.path)
        after = {str(i.path) for i in await list_worktrees(repo)}
    for info in before:
        if str(info.path) not in after:
            notes.append(f"pruned worktree {info.path} (branch {info.branch or '-'})")
    return notes


async def list_launcher_branches(repo: GitRepo, run_id: str | None = None) -> list[str]:
    """Short names of `launcher/*` branches (of one run if `run_id` is given)."""
    pattern = f"refs/heads/{BRANCH_PREFIX}" + (f"/{run_id}" if run_id else "")
    result = await repo.git("for-each-ref", "--format=%(refname)", pattern)
    return sorted(
        line.removeprefix("refs/heads/") for line in result.out.splitlines() if line.strip()
    )
