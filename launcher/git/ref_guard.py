"""The shared repository's refs that agents must not move: a record, a comparison, an undo.

Every worktree shares the refs of one repository, so an agent can move the target branch from
its own worktree (`git update-ref refs/heads/main HEAD`, `git -C <main checkout> merge
--ff-only <sha>`), move it back, switch the main checkout's HEAD, or create and delete branches
and tags. Watched: the main checkout's HEAD (the `HEAD` file of its git dir: the common git
dir's, or `worktrees/<id>/HEAD` when the launcher runs in a linked worktree) and every ref
under `refs/heads/` and `refs/tags/`, and under `refs/replace/` and `refs/notes/` (a replace ref
swaps what git reads for an object, in the user's every command; notes show in `git log`),
except `refs/heads/launcher/`: the launcher moves its own
task branches all the time (an idle task's branch is watched as its worktree's HEAD, by
engine/tree_guard.py), and other runs own theirs.

One `git for-each-ref` reads them all. The launcher's own moves of a watched ref (a landing, its
roll-back) are announced with `launcher_moved` under the repository lock, so a comparison made
under that lock never takes them for someone else's.

Who made a change the launcher did not make (app/run/containment.py decides the blame):
- a fast-forward of a branch (the old commit is an ancestor of the new one; a tag moved forward
  is no fast-forward: `is_fast_forward`) is an agent's when one of the
  commits it adds was made in a worktree of the run (it is in the reflog of the worktree's HEAD
  or of a task branch); otherwise it is the user's own commit while the run goes on, and left;
- a new branch is left (an agent's `git switch -c` moves nobody's work; the run notes it);
- a new tag that a `git fetch` / `git pull` in the main checkout brought is the user's unless
  it points at a commit made in a worktree of the run: its FETCH_HEAD lists that tag with that
  object (`fetched_tags`), or its commit was on no ref before and a remote-tracking ref that
  moved meanwhile brought it (`fetched_with_remote`: a second fetch rewrites FETCH_HEAD); so is a
  new tag on a commit the user's own fast-forward brought. A fetch never moves nor deletes an
  existing tag without `--force`: a moved or deleted tag is never the user's;
- a sideways move of a branch that is its own commits rebased onto its upstream (`git pull
  --rebase`, `git rebase @{upstream}`: the new tip contains the upstream's tip, every commit it
  drops has a copy in it and every commit it adds is the upstream's or such a copy:
  `rebased_copies`) is the user's when it adds no commit made in a worktree of the run. A copy
  has the same patch id; when the branch's reflog shows a `git rebase` of it finished
  (`rebase_finished`, whose conflicts the user may have resolved) the same author and author
  date do too. A rewind (it drops commits and adds no copy) is never the user's;
- anything else (a move backwards or sideways, a deleted ref, a new tag, replace ref or note,
  another HEAD in the main checkout) made while an agent ran is taken for that agent's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from launcher.git.repo import GitRepo

WATCHED = ("refs/heads/", "refs/tags/", "refs/replace/", "refs/notes/")
UNWATCHED = ("refs/heads/launcher/",)
REMOTES = "refs/remotes/"  # read with the watched refs: evidence of a fetch (`fetched_with_remote`)
HEAD = "HEAD"  # the main checkout's HEAD: "ref: refs/heads/main" or a commit id
_OID = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_FETCHED_TAG = re.compile(r"^tag '(.+)' of ")
_REBASE_FINISHED = re.compile(r"(?:\(finish\)|finished): (refs/\S+) onto [0-9a-f]+$")
_REFLOG_TAIL = 64 * 1024  # bytes of a reflog read from its end

# ref -> [(old, new)] moves the launcher itself made, per common git dir (see `launcher_moved`).
_OWN_MOVES: dict[Path, list[tuple[str, str | None, str | None]]] = {}


def launcher_moved(common_dir: Path, ref: str, old: str | None, new: str | None) -> None:
    """The launcher moved `ref` (call it under the repository lock, right after the move)."""
    if ref.startswith(WATCHED) and not ref.startswith(UNWATCHED):
        _OWN_MOVES.setdefault(common_dir.resolve(), []).append((ref, old, new))


@dataclass
class RefState:
    refs: dict[str, str] = field(default_factory=dict)  # watched ref -> object id
    remotes: dict[str, str] = field(default_factory=dict)  # refs/remotes/ ref -> object id (read, not watched)
    head: str = ""  # the main checkout's HEAD file, stripped


@dataclass(frozen=True)
class RefChange:
    ref: str  # a watched ref, or HEAD
    old: str | None  # None: it did not exist
    new: str | None  # None: it was deleted

    def describe(self) -> str:
        if self.ref == HEAD:
            return f"HEAD of the main checkout changed from {_short(self.old)} to {_short(self.new)}"
        if self.old is None and self.ref.startswith("refs/replace/"):
            swapped = self.ref.removeprefix("refs/replace/")
            return (f"{_name(self.ref)} created (git would read object {_short(self.new)} in place "
                    f"of {_short(swapped)})")
        if self.old is None:
            return f"{_name(self.ref)} created at {_short(self.new)}"
        if self.new is None:
            return f"{_name(self.ref)} deleted (was {_short(self.old)})"
        return f"{_name(self.ref)} moved from {_short(self.old)} to {_short(self.new)}"


def _name(ref: str) -> str:
    return ref.removeprefix("refs/heads/").removeprefix("refs/")


def _short(value: str | None) -> str:
    if value is None:
        return "nothing"
    return value[:12] if _OID.match(value) else value.removeprefix("ref: ")


async def read_state(repo: GitRepo) -> RefState:
    listed = await repo.git("for-each-ref", "--format=%(refname) %(objectname)", *WATCHED, REMOTES)
    state = RefState()
    for line in listed.out.splitlines():
        ref, _, oid = line.rpartition(" ")
        if ref.startswith(REMOTES):
            state.remotes[ref] = oid
        elif ref and not ref.startswith(UNWATCHED):
            state.refs[ref] = oid
    try:
        state.head = (repo.git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        state.head = ""
    return state


def _own_explained(common_dir: Path, ref: str, old: str | None, new: str | None) -> bool:
    """Whether the launcher's own moves lead `ref` from `old` to `new` (they are used up)."""
    moves = _OWN_MOVES.get(common_dir.resolve(), [])
    at, used = old, []
    for index, (moved, before, after) in enumerate(moves):
        if moved == ref and before == at:
            at = after
            used.append(index)
    if at != new or not used:
        return False
    for index in reversed(used):
        del moves[index]
    return True


def changes(repo: GitRepo, before: RefState, now: RefState) -> list[RefChange]:
    """What differs between two records, minus the launcher's own announced moves."""
    found = []
    for ref in sorted(before.refs.keys() | now.refs.keys()):
        old, new = before.refs.get(ref), now.refs.get(ref)
        if old != new and not _own_explained(repo.common_dir, ref, old, new):
            found.append(RefChange(ref, old, new))
    if before.head != now.head:
        found.append(RefChange(HEAD, before.head or None, now.head or None))
    return found


async def is_fast_forward(repo: GitRepo, change: RefChange) -> bool:
    """Whether `change` moves a branch (or a note, a replace ref) forward, as a commit or a
    `git pull --ff-only` does. Never a tag: the user's git moves no existing tag forward (a fetch
    refuses to without `--force`), so a moved tag is no one's own commit."""
    if change.ref == HEAD or change.ref.startswith("refs/tags/") or change.old is None or change.new is None:
        return False
    return await repo.is_ancestor(change.old, change.new)


async def rebased_copies(repo: GitRepo, change: RefChange, by_author: bool = False) -> bool:
    """Whether a branch's move is its own commits rebased onto its upstream, as `git pull
    --rebase` (or `git rebase @{upstream}`) leaves it: the new tip contains the remote-tracking
    branch's tip, every commit of the old tip the new one lacks has a copy in it, and every
    commit it adds is the upstream's or a copy of one it dropped (merges aside). A copy has the
    same patch id (`--cherry-mark`); `by_author`: or the same author and author date (a rebase
    keeps them when the user resolves a conflict). Nobody's work is dropped by such a move, and
    a rewind (commits dropped, no copy added) never is one."""
    if not change.ref.startswith("refs/heads/") or change.old is None or change.new is None:
        return False
    listed = await repo.git("for-each-ref", "--format=%(upstream)", change.ref, check=False)
    upstream = listed.out.strip() if listed.ok else ""
    if not upstream.startswith(REMOTES):
        return False
    tip = await repo.git("rev-parse", "--verify", "-q", f"{upstream}^{{commit}}", check=False)
    if not tip.ok or not await repo.is_ancestor(tip.out.strip(), change.new):
        return False
    span = f"{change.old}...{change.new}"
    sides = await repo.git("log", "--left-right", "--no-merges", "--date=raw",
                           "--format=%m %H %an <%ae> %ad", span, check=False)
    same = await repo.git("rev-list", "--cherry-mark", "--no-merges", span, check=False)
    theirs = await repo.git("rev-list", "--no-merges", change.new, f"^{change.old}", f"^{tip.out.strip()}",
                            check=False)
    if not (sides.ok and same.ok and theirs.ok):
        return False
    copied = {line[1:] for line in same.out.split() if line.startswith("=")}
    dropped: dict[str, str] = {}
    added: dict[str, str] = {}
    for line in sides.out.splitlines():
        mark, commit, author = [*line.split(" ", 2), "", ""][:3]
        (dropped if mark == "<" else added)[commit] = author
    ours = set(theirs.out.split())  # added, not the upstream's: each must be a copy

    def has_copy(commit: str, author: str, among: set[str]) -> bool:
        return commit in copied or (by_author and author in among)

    dropped_authors, added_authors = set(dropped.values()), set(added.values())
    return (all(has_copy(c, a, added_authors) for c, a in dropped.items())
            and all(has_copy(c, added.get(c, ""), dropped_authors) for c in ours))


def rebase_finished(common_dir: Path, change: RefChange) -> bool:
    """Whether the branch's reflog leads from `change.old` to `change.new` through a `git rebase`
    (or `git pull --rebase`) of it that finished ("rebase (finish): refs/heads/main onto ...");
    later entries (a commit after it) may follow. Anyone moving the ref writes its reflog
    message (`git update-ref -m`): this is never evidence alone, only with `rebased_copies`."""
    if change.old is None or change.new is None:
        return False
    try:
        with (common_dir / "logs" / change.ref).open("rb") as log:
            log.seek(0, 2)
            log.seek(max(0, log.tell() - _REFLOG_TAIL))
            lines = log.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return False
    at, finished = change.new, False
    for line in reversed(lines):  # <old> <new> <who> <time> <zone> TAB <message>
        old, new, _ = [*line.split(" ", 2), "", ""][:3]
        if new != at:
            return False
        match = _REBASE_FINISHED.search(line.partition("\t")[2])
        finished = finished or bool(match and match.group(1) == change.ref)
        at = old
        if at == change.old:
            return finished
    return False


def fetched_tags(*git_dirs: Path) -> dict[str, str]:
    """Tag name -> object id, as the FETCH_HEAD files of these git dirs list them: the tags the
    last `git fetch` or `git pull` there brought (followed with the commits, or asked for).
    FETCH_HEAD is a checkout's own file: an agent's fetch in its worktree writes its own."""
    found: dict[str, str] = {}
    for git_dir in dict.fromkeys(git_dirs):
        try:
            text = (git_dir / "FETCH_HEAD").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():  # <oid> TAB [not-for-merge] TAB tag 'v2.0' of <url>
            oid, _, rest = line.partition("\t")
            described = rest.partition("\t")[2]
            if _OID.match(oid) and (name := _FETCHED_TAG.match(described)):
                found[name.group(1)] = oid
    return found


async def fetched_with_remote(repo: GitRepo, commit: str, before: RefState, now: RefState) -> bool:
    """Whether `commit` was on no ref of `before` (no branch, tag or remote-tracking branch
    reached it) and a remote-tracking branch that moved between the two reads brought it: it
    reaches `commit` now and did not before. This is what a `git fetch` leaves, read from the
    refs themselves, whatever later fetches write into FETCH_HEAD."""
    brought = False
    for ref, new in now.remotes.items():
        old = before.remotes.get(ref)
        if old != new and await repo.is_ancestor(commit, new):
            brought = old is None or not await repo.is_ancestor(commit, old)
            if brought:
                break
    if not brought:
        return False
    listed = await repo.git("for-each-ref", "--contains", commit, "--format=%(refname) %(objectname)",
                            *WATCHED, REMOTES, check=False)
    if not listed.ok:
        return False
    was = {**before.refs, **before.remotes}
    is_now = {**now.refs, **now.remotes}
    for line in listed.out.splitlines():
        ref, _, oid = line.rpartition(" ")
        if was.get(ref) == oid:
            return False  # a ref that did not change reaches it: it was there before
    for ref, old in was.items():
        if is_now.get(ref) != old and await repo.is_ancestor(commit, old):
            return False
    return True


async def tag_commits(repo: GitRepo) -> dict[str, tuple[str, str]]:
    """Tag ref -> (its object id, what that object peels to: the tagged object of an annotated
    tag, else the object itself), in one read."""
    listed = await repo.git("for-each-ref", "--format=%(objectname) %(*objectname) %(refname)",
                            "refs/tags/", check=False)
    found = {}
    for line in listed.out.splitlines():
        oid, peeled, ref = line.split(" ", 2)
        found[ref] = (oid, peeled or oid)
    return found


async def added_commits(repo: GitRepo, change: RefChange, limit: int = 10000) -> list[str]:
    assert change.old is not None and change.new is not None
    listed = await repo.git("rev-list", f"--max-count={limit}", change.new, f"^{change.old}")
    return listed.out.split()


def keep_reflog(log: Path) -> int | None:
    """Make sure git keeps the reflog `log` (a worktree's `logs/HEAD`, a branch's), whatever the
    user's `core.logAllRefUpdates`: with it false git creates no reflog, but appends to one that
    exists, whatever config the process moving the ref has. Returns its size now (None: it
    cannot be kept there). Appending nothing never truncates a reflog: no lock is needed."""
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab"):
            pass
        return log.stat().st_size
    except OSError:
        return None


def reflog_commits(log: Path) -> set[str]:
    """The commits a reflog file says its ref pointed at."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {parts[1] for line in text.splitlines() if len(parts := line.split(" ", 2)) > 2}


def change_time(repo: GitRepo, change: RefChange) -> float | None:
    """When the change was written (ctime of the loose ref, or of packed-refs); None: unknown."""
    candidates = [repo.git_dir / HEAD if change.ref == HEAD else repo.common_dir / change.ref,
                  repo.common_dir / "packed-refs"]
    times = []
    for path in candidates:
        try:
            times.append(path.lstat().st_ctime)
        except OSError:
            continue
    return max(times) if times else None


async def _head_commit(repo: GitRepo) -> str | None:
    done = await repo.git("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    return done.out.strip() or None if done.ok else None


async def _index_at(repo: GitRepo, commit: str) -> bool:
    done = await repo.git("diff-index", "--cached", "--quiet", commit, "--", check=False)
    return done.returncode == 0


def keeps_any(changes: list[RefChange]) -> bool:
    """Whether `undo` keeps anything of these changes: the value an agent set a ref to, or the
    commit it detached the main checkout's HEAD at (a branch switched to, or a deleted ref, has
    nothing of its own to keep)."""
    return any(c.new is not None and (c.ref != HEAD or bool(_OID.match(c.new))) for c in changes)


async def undo(repo: GitRepo, undone: list[RefChange], keep_under: str) -> list[str]:
    """Put each change back (compare-and-swap: a ref moved again meanwhile is left, and said);
    the agent's value is kept under `keep_under` (nothing is deleted). When the main checkout's
    HEAD commit moves back, its index and files follow (`read-tree -m -u`) if they had moved
    with it. Caller holds the repository lock. Returns what could not be put back."""
    problems = []
    agents_head = await _head_commit(repo)
    for change in undone:
        if change.ref == HEAD:
            problems += await _undo_head(repo, change, keep_under)
            continue
        if change.new is not None:
            await repo.git("update-ref", "-m", "launcher: kept what an agent set",
                           f"{keep_under}/{change.ref.removeprefix('refs/')}", change.new, check=False)
        if change.old is None:
            assert change.new is not None
            done = await repo.git("update-ref", "-m", "launcher: put back", "-d", change.ref,
                                  change.new, check=False)
        else:
            done = await repo.git("update-ref", "-m", "launcher: put back", change.ref,
                                  change.old, change.new or "", check=False)
        if not done.ok:
            problems.append(f"{_name(change.ref)} ({done.err.strip()})")
    restored = await _head_commit(repo)
    if agents_head and restored and agents_head != restored and not await _index_at(repo, restored):
        if await _index_at(repo, agents_head):  # the index and files had moved with HEAD
            done = await repo.git("read-tree", "-m", "-u", agents_head, restored, check=False)
            if not done.ok:
                problems.append(f"the main checkout's files ({done.err.strip()})")
        else:
            problems.append("the main checkout's index and files (neither at the old nor the new "
                            "commit)")
    return problems


async def _undo_head(repo: GitRepo, change: RefChange, keep_under: str) -> list[str]:
    if change.new and _OID.match(change.new):
        await repo.git("update-ref", f"{keep_under}/HEAD", change.new, check=False)
    old = change.old or ""
    if old.startswith("ref: "):
        done = await repo.git("symbolic-ref", "-m", "launcher: put back", HEAD,
                              old.removeprefix("ref: "), check=False)
    elif _OID.match(old):
        done = await repo.git("update-ref", "--no-deref", "-m", "launcher: put back", HEAD, old,
                              check=False)
    else:
        return ["HEAD of the main checkout (it had no value before)"]
    return [] if done.ok else [f"HEAD of the main checkout ({done.err.strip()})"]
