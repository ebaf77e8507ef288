"""What the user's own git does in the repository during a run, told apart from an agent's.

A config change that only sets a branch's upstream (git/config_keys.py) is the user's `git
branch feature origin/main`: taken into the snapshot, never put back or blamed.
"""

from __future__ import annotations

from launcher.app.context import RunContext
from launcher.git import config_keys, guard

CONFIG = "config"


async def take_in_branch_config(ctx: RunContext) -> tuple[config_keys.Listing, config_keys.Listing] | None:
    """If the shared config's bytes changed: a change of branch upstreams alone is taken into the
    snapshot (None); a change of other keys too returns both listings, for `keep_branch_keys`
    once the config is put back. Caller holds the repository lock."""
    snapshot = ctx.git_dir_snapshot
    if snapshot is None:
        return None
    then, now = snapshot.entries.get(CONFIG), guard.current(snapshot, CONFIG)
    if then is None or now is None or then == now or then.is_link or now.is_link or then.mode != now.mode:
        return None
    before = await config_keys.listing(ctx.repo, then.data)
    after = await config_keys.listing(ctx.repo, now.data)
    if before is None or after is None:
        return None
    if config_keys.branch_only(before, after):
        guard.take_in(snapshot, CONFIG, now)
        return None
    return before, after


async def keep_branch_keys(ctx: RunContext, listings: tuple[config_keys.Listing, config_keys.Listing]) -> None:
    """The config was put back: the branch upstreams set meanwhile are written into it again, and
    the result is the snapshot's. Caller holds the repository lock."""
    snapshot = ctx.git_dir_snapshot
    if snapshot is None or guard.current(snapshot, CONFIG) != snapshot.entries.get(CONFIG):
        return  # not put back (changed again meanwhile): the next check looks at it
    await config_keys.keep_branch_keys(ctx.repo, snapshot.common_dir / CONFIG, *listings)
    guard.take_in(snapshot, CONFIG, guard.current(snapshot, CONFIG))
