"""The shared git config, compared by what it sets: a branch's upstream is the user's, not a threat.

git itself writes `branch.<name>.remote` / `.merge` into the repository's config when the user
makes a branch from a remote-tracking one (`git branch feature origin/main`, `git switch -c x
origin/x`, `git push -u`, `git branch -u`), and removes them with the branch (`git branch -d`).
Those keys run nothing: a config change that only adds, changes or removes them (and the other
keys of the branch's section listed in BRANCH_KEYS) is taken into the git-dir snapshot
(git/guard.py) and never put back or blamed. Any other key changed with them is put back as
before, the branch keys kept (`keep_branch_keys`).

A fetch with `--filter` (`git fetch --filter=blob:none origin`) writes `remote.<name>.promisor`
and `.partialclonefilter` and a promisor pack whose trees name blobs it did not fetch: without
those keys git takes the missing blobs for corruption (`git fsck`: "broken link", `git log -p`
fails). Once the object store holds a promisor pack (`objects/pack/*.promisor`), those two keys
of a remote the config had before are kept the same way (`kept_keys`), never put back alone.

The config is read by git itself (`git config -f <file> -l -z`, which does not follow include
directives: an `include.path` is one more key), never parsed here; a file git cannot read is
never taken for a branch-only change.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from launcher.git import guard
from launcher.git.repo import GitRepo

CONFIG = "config"

# The keys of a `[branch "<name>"]` section git or the user sets for documented-fine actions;
# lowercase, as `git config -l` prints them (not `mergeOptions`: options given to every merge).
BRANCH_KEYS = ("remote", "merge", "rebase", "pushremote", "description")

# The keys of a `[remote "<name>"]` section a filtered fetch writes (lowercase, as listed).
PROMISOR_KEYS = ("promisor", "partialclonefilter")

Listing = list[tuple[str, str | None]]
Kept = Callable[[str], bool]


def _is_branch_key(key: str) -> bool:
    section, _, rest = key.partition(".")
    name, _, last = rest.rpartition(".")
    return section.lower() == "branch" and bool(name) and last.lower() in BRANCH_KEYS


def kept_keys(common_dir: Path, before: Listing) -> Kept:
    """Which keys' changes are kept: the branch keys, and, when the object store holds a
    promisor pack, the promisor keys of the remotes `before` has (a URL of its own)."""
    try:
        promisor = any((common_dir / "objects" / "pack").glob("*.promisor"))
    except OSError:
        promisor = False
    remotes = {key[len("remote."):-len(".url")] for key, _ in before
               if promisor and key.startswith("remote.") and key.endswith(".url")}

    def kept(key: str) -> bool:
        section, _, rest = key.partition(".")
        name, _, last = rest.rpartition(".")
        return _is_branch_key(key) or (section.lower() == "remote" and name in remotes
                                       and last.lower() in PROMISOR_KEYS)
    return kept


async def listing(repo: GitRepo, data: bytes) -> Listing | None:
    """Every key and value these config bytes set, in order; None: git cannot read them."""
    with tempfile.TemporaryDirectory(prefix="launcher-config-") as scratch:
        path = Path(scratch) / "config"
        path.write_bytes(data)
        done = await repo.git("config", "--file", str(path), "--list", "-z", cwd=Path(scratch), check=False)
    if not done.ok:
        return None
    found: Listing = []
    for item in done.out.split("\0"):
        if item:
            key, newline, value = item.partition("\n")
            found.append((key, value if newline else None))
    return found


def branch_only(before: Listing, after: Listing, kept: Kept = _is_branch_key) -> bool:
    """Whether the two listings differ in the kept keys (by default the branch keys) alone."""
    return [kv for kv in before if not kept(kv[0])] == [kv for kv in after if not kept(kv[0])]


def _branch_values(found: Listing, kept: Kept) -> dict[str, list[str | None]]:
    values: dict[str, list[str | None]] = {}
    for key, value in found:
        if kept(key):
            values.setdefault(key, []).append(value)
    return values


async def keep_branch_keys(repo: GitRepo, path: Path, before: Listing, after: Listing,
                           kept: Kept = _is_branch_key) -> None:
    """`path` (the config, just put back as `before` had it) gets the kept keys (by default the
    branch keys) `after` set. Caller holds the repository lock."""
    then, now = _branch_values(before, kept), _branch_values(after, kept)
    for key in sorted(then.keys() | now.keys()):
        if then.get(key) == now.get(key):
            continue
        await repo.git("config", "--file", str(path), "--unset-all", key, cwd=path.parent, check=False)
        for value in now.get(key, []):
            # A key with no value ("[branch "x"] rebase"): git reads it as true.
            await repo.git(
                "config",
                "--file",
                str(path),
                "--add",
                key,
                "true" if value is None else value,
                cwd=path.parent,
                check=False,
            )


async def take_in(repo: GitRepo, snapshot: guard.GitDirSnapshot) -> tuple[Listing, Listing] | None:
    """If the shared config's bytes changed: a change of the kept keys alone is taken into the
    snapshot (None); a change of other keys too returns both listings, for `keep_after` once
    the config is put back. Caller holds the repository lock."""
    then, now = snapshot.entries.get(CONFIG), guard.current(snapshot, CONFIG)
    if then is None or now is None or then == now or then.is_link or now.is_link or then.mode != now.mode:
        return None
    before = await listing(repo, then.data)
    after = await listing(repo, now.data)
    if before is None or after is None:
        return None
    if branch_only(before, after, kept_keys(snapshot.common_dir, before)):
        guard.take_in(snapshot, CONFIG, now)
        return None
    return before, after


async def keep_after(repo: GitRepo, snapshot: guard.GitDirSnapshot, listings: tuple[Listing, Listing]) -> None:
    """The config was put back: the kept keys set meanwhile are written into it again, and the
    result is the snapshot's. Caller holds the repository lock."""
    if guard.current(snapshot, CONFIG) != snapshot.entries.get(CONFIG):
        return  # not put back (changed again meanwhile): the next check looks at it
    kept = kept_keys(snapshot.common_dir, listings[0])
    await keep_branch_keys(repo, snapshot.common_dir / CONFIG, *listings, kept=kept)
    guard.take_in(snapshot, CONFIG, guard.current(snapshot, CONFIG))
