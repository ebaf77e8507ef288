"""Whether a warm-pool worktree is fit to be handed out: exactly its HEAD, with nothing of a
previous task (or of a stray process) left that `git status` does not show.

`git status` (staged, changed, untracked and ignored files) does not see everything: index
entries marked assume-unchanged or skip-worktree are passed over (and the next task's `git add`
would pass over its edit of that file too), special files (a FIFO, a socket) are never listed,
and a stale `index.lock` or an operation in progress (`MERGE_HEAD`, `rebase-merge/`) lives in
the worktree's admin directory. Each is looked for here; finding one means the worktree was
touched, and it is removed, never handed out (`warm_pool.take`).

A task's worktree inherits the main checkout's sparse-checkout state, as git copies it into a
worktree it adds (`core.sparseCheckout`, `core.sparseCheckoutCone`, the patterns). A pool
worktree has the state of when it was warmed: one whose state is not the main checkout's now is
removed too, and the task gets a fresh worktree (`git worktree add`, which copies the current).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import anyio

from launcher.git import index_flags, worktree_admin
from launcher.git.repo import GitRepo

# Special files (FIFOs, sockets, device nodes) anywhere in a worktree, as paths relative to it:
# the app layer passes engine/odd_entries.py's walk in (the git layer does not import upward).
SpecialFiles = Callable[[Path], list[str]]

# Everything git can see besides a clean checkout of HEAD: staged or unstaged changes, untracked
# files, ignored files (one left in a pool worktree would reach the next task's agent).
_STATUS = ("status", "--porcelain", "-z", "--untracked-files=all", "--ignored", "--ignore-submodules=none")


# In a worktree's admin dir: a git process's lock (one that died leaves it, and every later
# `git add` fails on it), or an operation in progress, which the next `git commit` would finish.
_BUSY = ("index.lock", "HEAD.lock", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "BISECT_LOG",
         "rebase-merge", "rebase-apply", "sequencer")


async def pristine(repo: GitRepo, tree: Path, special_files: SpecialFiles) -> bool:
    """The worktree is exactly its HEAD: no git lock or operation in progress in its admin dir;
    nothing staged, changed, untracked or ignored; no index entry `git status` passes over
    (assume-unchanged, or skip-worktree that no sparse checkout explains: an edit of such a
    file would be invisible to the next task's commit); no special file. Each take lists the
    flags itself: anything a stamp left beside the index could be forged by an agent."""
    if busy(tree):
        return False
    status = await repo.git(*_STATUS, cwd=tree, check=False)
    if not status.ok or status.out:
        return False
    flagged = await _flagged_entries(repo, tree)
    if flagged is None or flagged:
        return False
    return not await anyio.to_thread.run_sync(special_files, tree)


async def holds_no_flags(repo: GitRepo, tree: Path) -> bool:
    """No index entry of the worktree carries a flag `git status` passes over (None from git:
    not known, taken as none here; whoever takes the worktree lists them again)."""
    return not await _flagged_entries(repo, tree)


def busy(tree: Path) -> str | None:
    """What in the worktree's admin dir says a git process holds it, died in it, or left an
    operation unfinished (or that it has no admin dir): the name, else None."""
    admin = worktree_admin.admin_dir(tree)
    if admin is None:
        return ".git"
    return next((name for name in _BUSY if os.path.lexists(admin / name)), None)


async def clear_index_flags(repo: GitRepo, tree: Path) -> bool:
    """Clear the assume-unchanged and skip-worktree bits `_flagged_entries` finds (a checkout
    keeps them); False when git could not."""
    flagged = await _flagged_entries(repo, tree)
    if flagged is None:
        return False
    for flag in ("--no-assume-unchanged", "--no-skip-worktree"):  # one per call: git applies only the first
        for start in range(0, len(flagged), 500):  # a bounded argv per call
            if not (await repo.git("update-index", flag, "--", *flagged[start:start + 500], cwd=tree, check=False)).ok:
                return False
    return True


async def remove_special_files(tree: Path, special_files: SpecialFiles) -> bool:
    """Remove every special file in the worktree (unlinked, never opened: a FIFO's reader would
    wait) and every stray `.git` directory `special_files` names (with what is in it, links not
    followed); False if one could not be removed."""
    def remove() -> bool:
        for rel in special_files(tree):
            path = tree / rel
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError:
                return False
        return True

    return await anyio.to_thread.run_sync(remove)


async def _is_sparse(repo: GitRepo, tree: Path) -> bool:
    done = await repo.git("config", "--type=bool", "--get", "core.sparseCheckout", cwd=tree, check=False)
    return done.out.strip() == "true"


async def _flagged_entries(repo: GitRepo, tree: Path) -> list[str] | None:
    """Index entries whose file `git status` and `git add` pass over: assume-unchanged ones
    (a lower-case tag in `git ls-files -v`) and skip-worktree ones (`S`), except those a
    sparse checkout explains (outside its cone: not on disk). None when git cannot list them."""
    listed = await repo.git("ls-files", "-v", "-z", cwd=tree, check=False)
    if not listed.ok:
        return None
    if index_flags.all_plain(listed.out):
        return []
    flagged: list[str] = []
    sparse: bool | None = None
    for entry in listed.out.split("\0"):
        tag, path = entry[:1], entry[2:]
        if not tag or tag == "H":
            continue
        if tag == "S":
            if sparse is None:
                sparse = await _is_sparse(repo, tree)
            if sparse and not os.path.lexists(tree / path):
                continue
        flagged.append(path)
    return flagged


_SPARSE_KEYS = r"^core\.sparsecheckout(cone)?$"


async def _sparse_state(repo: GitRepo, tree: Path, git_dir: Path | None) -> tuple[str, str, bytes | None] | None:
    """(core.sparseCheckout, core.sparseCheckoutCone, the patterns when sparse) as `tree` reads
    them; None when they cannot be read."""
    done = await repo.git("config", "-z", "--type=bool", "--get-regexp", _SPARSE_KEYS, cwd=tree, check=False)
    if done.returncode not in (0, 1) or git_dir is None:
        return None
    values = dict(entry.partition("\n")[::2] for entry in done.out.split("\0") if entry)
    enabled = values.get("core.sparsecheckout", "")
    try:
        patterns = (git_dir / "info" / "sparse-checkout").read_bytes() if enabled == "true" else None
    except FileNotFoundError:
        patterns = b""
    except OSError:
        return None
    return enabled, values.get("core.sparsecheckoutcone", ""), patterns


async def sparse_as_main(repo: GitRepo, tree: Path) -> bool:
    """The worktree's sparse-checkout state is the main checkout's (what `git worktree add` run
    there now would give it: the launcher adds its worktrees from `repo.root`). Neither git dir
    having a worktree config nor patterns of its own, both read the same (shared) config: equal,
    with no git process (the usual, non-sparse case: one check per take)."""
    admin = worktree_admin.admin_dir(tree)
    own = ("config.worktree", "info/sparse-checkout")
    if admin is not None and not any(os.path.lexists(where / name) for where in (admin, repo.git_dir) for name in own):
        return True
    mine = await _sparse_state(repo, tree, admin)
    return mine is not None and mine == await _sparse_state(repo, repo.root, repo.git_dir)
