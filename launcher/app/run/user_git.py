"""What the user's own git does in the repository during a run, told apart from an agent's.

- A git process of the user's at work in the main checkout now (engine/live_git.py: their `git
  pull --rebase`, paused in a post-checkout hook, say) owns the operation in progress it shows
  (`rebase-merge/`, `MERGE_HEAD`...) and the HEAD it detached: the guards leave both, note it once,
  and look again at their next check (what is left once no git of the user's runs is put back
  and blamed as before: an agent's plant never has a live git of the user's behind it).
  Before a landing, and at the run's end, the launcher waits for it a while (`wait_for_users_git`).
- A config change that only sets a branch's upstream (git/config_keys.py) is the user's `git
  branch feature origin/main`: taken into the snapshot, never put back or blamed (as are the
  promisor keys a filtered fetch wrote, which the repository needs once it has their pack).
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio

from launcher.app.context import STATE_DIR, RunContext
from launcher.engine import live_git
from launcher.git import config_keys, guard

USERS_GIT_WAIT_S = 120.0  # how long a landing (or the run's end) waits for the user's git to finish
_POLL_S = 0.2
_NOTED: set[tuple[str, int]] = set()  # (run, pid) already said


def find_users_git(ctx: RunContext) -> list[live_git.LiveGit]:
    """The user's git processes at work on the repository now (blocking: /proc is read)."""
    repo = ctx.repo
    skip: list[Path] = [repo.root / STATE_DIR, ctx.worktree_root]
    return live_git.find(repo.root, [repo.git_dir, repo.common_dir], skip)


def note_left(ctx: RunContext, found: list[live_git.LiveGit], what: str) -> None:
    """Say once per process that `what` was left for the user's live git."""
    fresh = [one for one in found if (ctx.run_id, one.pid) not in _NOTED]
    if not fresh:
        return
    _NOTED.update((ctx.run_id, one.pid) for one in fresh)
    ctx.note(
        None,
        f"{what} left as it is: your git is at work in the main checkout "
        f"({'; '.join(one.describe() for one in fresh)}); looked at again once it has finished",
    )


async def wait_for_users_git(ctx: RunContext, limit_s: float = USERS_GIT_WAIT_S) -> None:
    """Wait (up to `limit_s`) while the main checkout shows an operation in progress, or a git
    lock file, that a live git of the user's holds: a landing must not move the target under
    their `git pull --rebase`. Nothing to wait for costs one look at the git dir."""
    snapshot = ctx.git_dir_snapshot
    if snapshot is None:
        return
    deadline = time.monotonic() + limit_s
    noted = False
    while True:
        if not (guard.in_progress_present(snapshot) or _locked(ctx)):
            return
        found = await anyio.to_thread.run_sync(find_users_git, ctx)
        if not found or time.monotonic() >= deadline:
            return
        if not noted:
            ctx.note(
                None,
                f"waiting for your git to finish in the main checkout ({'; '.join(one.describe() for one in found)})",
                keep=False,
            )
            noted = True
        await anyio.sleep(_POLL_S)


def _locked(ctx: RunContext) -> bool:
    return any((ctx.repo.git_dir / name).exists() for name in ("index.lock", "HEAD.lock"))


async def take_in_branch_config(ctx: RunContext) -> tuple[config_keys.Listing, config_keys.Listing] | None:
    """If the shared config's bytes changed: a change of branch upstreams (or of a promisor
    remote's keys a filtered fetch wrote) alone is taken into the snapshot (None); a change of
    other keys too returns both listings, for `keep_branch_keys` once the config is put back.
    Caller holds the repository lock."""
    snapshot = ctx.git_dir_snapshot
    return None if snapshot is None else await config_keys.take_in(ctx.repo, snapshot)


async def keep_branch_keys(ctx: RunContext, listings: tuple[config_keys.Listing, config_keys.Listing]) -> None:
    """The config was put back: the branch upstreams (and promisor keys) set meanwhile are
    written into it again, and the result is the snapshot's. Caller holds the repository lock."""
    if ctx.git_dir_snapshot is not None:
        await config_keys.keep_after(ctx.repo, ctx.git_dir_snapshot, listings)
