"""The shared git config, compared by what it sets: a branch's upstream is the user's, not a threat.

git itself writes `branch.<name>.remote` / `.merge` into the repository's config when the user
makes a branch from a remote-tracking one (`git branch feature origin/main`, `git switch -c x
origin/x`, `git push -u`, `git branch -u`), and removes them with the branch (`git branch -d`).
Those keys run nothing: a config change that only adds, changes or removes them (and the other
keys of the branch's section listed in BRANCH_KEYS) is taken into the git-dir snapshot
(git/guard.py) and never put back or blamed. Any other key changed with them is put back as
before, the branch keys kept (`keep_branch_keys`).

The config is read by git itself (`git config -f <file> -l -z`, which does not follow include
directives: an `include.path` is one more key), never parsed here; a file git cannot read is
never taken for a branch-only change.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from launcher.git.repo import GitRepo

# The keys of a `[branch "<name>"]` section git or the user sets for documented-fine actions;
# lowercase, as `git config -l` prints them (not `mergeOptions`: options given to every merge).
BRANCH_KEYS = ("remote", "merge", "rebase", "pushremote", "description")

Listing = list[tuple[str, str | None]]


def _is_branch_key(key: str) -> bool:
    section, _, rest = key.partition(".")
    name, _, last = rest.rpartition(".")
    return section.lower() == "branch" and bool(name) and last.lower() in BRANCH_KEYS


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


def branch_only(before: Listing, after: Listing) -> bool:
    """Whether the two listings differ in the branch keys alone."""
    return [kv for kv in before if not _is_branch_key(kv[0])] == [kv for kv in after if not _is_branch_key(kv[0])]


def _branch_values(found: Listing) -> dict[str, list[str | None]]:
    values: dict[str, list[str | None]] = {}
    for key, value in found:
        if _is_branch_key(key):
            values.setdefault(key, []).append(value)
    return values


async def keep_branch_keys(repo: GitRepo, path: Path, before: Listing, after: Listing) -> None:
    """`path` (the config, just put back as `before` had it) gets the branch keys `after` set.
    Caller holds the repository lock."""
    then, now = _branch_values(before), _branch_values(after)
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
