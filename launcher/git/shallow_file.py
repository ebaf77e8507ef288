"""`shallow` in the shared git dir: which change of it is an intrusion, and which keeps the
repository whole.

Each commit listed in `shallow` is read as having no parent. An agent's line for a commit whose
parents the repository has hides that history (and `git gc` drops it): an intrusion, undone. But
git writes lines itself: a `git fetch --depth 1` lists the tip it fetched, whose parent it did
not fetch (in a full clone too: the file is then created); without that line the fetched ref
points into a history with a missing commit, and `git log`, `git fsck`, `git gc` and `git pull`
fail. `git fetch --unshallow` or `--deepen` removes lines whose parents it fetched; `git gc`
those of commits that are gone. So a change is put back only in part:

- a line added for a commit the repository has, with a parent it lacks, stays (git's own);
- any other added line goes (a commit whose parents are all here, or one that is not here);
- a removed line comes back only for a commit still here whose parent is missing.

Commits are read raw (`cat-file`), never through the shallow file itself nor replace refs, and
never fetched on demand from a promisor remote. The judgement is recorded in the guard's
snapshot (`guard.judge`) for the comparison that follows, under the same repository lock.
"""

from __future__ import annotations

import re

from launcher.git import guard
from launcher.git.path_lists import git_reading
from launcher.git.repo import GitRepo

_OID = re.compile(rb"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def _lines(entry: guard.Entry | None) -> list[bytes]:
    return [line.strip() for line in entry.data.splitlines() if line.strip()] if entry is not None else []


async def _batch(repo: GitRepo, oids: list[str], check_only: bool) -> bytes:
    env = {**repo.env, "GIT_NO_LAZY_FETCH": "1"}  # a missing parent is missing: never fetched now
    option = "--batch-check=%(objectname) %(objecttype)" if check_only else "--batch"
    done = await git_reading(repo, "cat-file", option, lines=oids, check=False, env=env)
    return done.stdout


async def _parents(repo: GitRepo, commits: list[bytes]) -> dict[bytes, list[bytes]]:
    """The raw parents of each of `commits` the repository has as a commit (others: left out)."""
    wanted = [c for c in commits if _OID.fullmatch(c)]
    if not wanted:
        return {}
    out = await _batch(repo, [c.decode() for c in wanted], check_only=False)
    found: dict[bytes, list[bytes]] = {}
    at = 0
    while at < len(out):
        end = out.find(b"\n", at)
        if end < 0:
            break
        header = out[at:end].split()
        at = end + 1
        if len(header) != 3 or not header[2].isdigit():
            continue  # "<oid> missing"
        size = int(header[2])
        body, at = out[at:at + size], at + size + 1
        if header[1] != b"commit":
            continue
        head = body.split(b"\n\n", 1)[0].splitlines()
        found[header[0]] = [line[7:].strip() for line in head if line.startswith(b"parent ")]
    return found


async def _missing(repo: GitRepo, oids: set[bytes]) -> set[bytes]:
    if not oids:
        return set()
    out = await _batch(repo, sorted(o.decode() for o in oids), check_only=True)
    return {line.split()[0] for line in out.splitlines() if line.endswith(b" missing")}


async def judge_shallow(repo: GitRepo, snapshot: guard.GitDirSnapshot) -> None:
    """Judge the change of `shallow` since the snapshot (caller holds the repository lock)."""
    then, now = snapshot.entries.get(guard.SHALLOW), guard.current(snapshot, guard.SHALLOW)
    if now == then:
        return
    if (then is not None and then.is_link) or (now is not None and now.is_link):
        guard.judge(snapshot, guard.SHALLOW, now, then)  # not git's doing: put back as it was
        return
    before, after = _lines(then), _lines(now)
    added = [line for line in after if line not in before]
    removed = [line for line in before if line not in after]
    parents = await _parents(repo, added + removed)
    absent = await _missing(repo, {p for line in added + removed for p in parents.get(line, [])})

    def keeps_whole(line: bytes) -> bool:  # a commit here whose history stops at a missing parent
        return line in parents and any(p in absent for p in parents[line])

    kept = [line for line in after if line in before or keeps_whole(line)]
    kept += [line for line in removed if keeps_whole(line)]
    if kept == after:
        wanted = now
    elif not kept:
        wanted = None
    else:
        mode = now.mode if now is not None else then.mode if then is not None else 0o644
        wanted = guard.Entry(False, b"".join(line + b"\n" for line in sorted(kept)), mode)
    guard.judge(snapshot, guard.SHALLOW, now, wanted)
