"""Repository handle: runs git through the process wrapper; mutations go through one lock.

We call the git binary directly (through `launcher.process`) instead of GitPython: every git
call then gets our process-group, timeout and bounded-output guarantees, and runs without
blocking the event loop.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import anyio

from launcher import process
from launcher.concurrency import file_lock
from launcher.errors import EnvironmentProblem, GitFailed, GitOutputTooLarge, LimitReached, OutOfSpace
from launcher.git import discovery_memo, guard, time_limit
from launcher.git.environment import SAFE_FLAGS, git_env
from launcher.git.full_disk import out_of_space
from launcher.git.ref_format import refuse_reftable
from launcher.store.files import clear_leftovers

if TYPE_CHECKING:
    from launcher.git.filters import FilterPin

MIN_GIT = (2, 38)  # `git merge-tree --write-tree`
# Another git process holds an index/ref lock file: transient, retried. A ref that moved under
# a compare-and-swap ("cannot lock ref ... but expected") is not transient and is not retried.
_LOCK_CONTENTION = re.compile(r"\.lock': File exists|Unable to create '.*\.lock'")
_LOCK_RETRIES = 8


def add_exclude_line(exclude: Path, pattern: str) -> None:
    """Append `pattern` to an `info/exclude` file unless a line already says it. Worked in bytes:
    git takes any bytes there, and a line in another encoding is the user's, never an error."""
    exclude.parent.mkdir(parents=True, exist_ok=True)
    existing = exclude.read_bytes() if exclude.exists() else b""
    line = os.fsencode(pattern)  # a path's bytes, as git reads them
    if line in existing.splitlines():
        return
    with exclude.open("ab") as fh:
        fh.write((b"\n" if existing and not existing.endswith(b"\n") else b"") + line + b"\n")


class GitLock:
    """One lock for every git mutation of shared state: async in-process, fcntl across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = anyio.Lock()

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._local, file_lock(self.path):
            yield


@dataclass(frozen=True)
class Change:
    """One path a commit range changes (`GitRepo.changed_entries`)."""

    path: str
    gitlink: bool  # a submodule pointer on either side
    blob: str  # its object at the range's end (all zeros: deleted)


class NoRepositoryHere(EnvironmentProblem):
    """There is no git repository at or above the directory: the one case a command that also
    works outside a repository (a plan checked against built-in agents only, `launcher agents`)
    may carry on. git refusing a repository that is there (dubious ownership, an unreadable git
    dir) is a plain EnvironmentProblem, reported before anything else."""


# Variables that make the user's own git use a repository elsewhere (the "bare dotfiles
# repository" layout): the launcher's git drops them (git_env), so it does not see that repository.
REPOSITORY_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR")


def _not_usable(start: Path, err: str) -> EnvironmentProblem:
    """Why git cannot give the launcher a work tree at `start`, in git's own words when it is not
    simply "no repository here" (dubious ownership, a bare repository, an unreadable git dir)."""
    lines = [line.strip() for line in err.strip().splitlines() if line.strip()]
    reason = lines[0].removeprefix("fatal: ").removeprefix("error: ") if lines else ""
    if not reason or "not a git repository" in reason:
        named = [f"{var}={os.environ[var]}" for var in REPOSITORY_VARS if os.environ.get(var)]
        if named:  # the user's git works here through them; `git init` would make a second repository
            return EnvironmentProblem(
                f"{start} is not inside a git work tree of its own: your environment sets {', '.join(named)}, "
                "which the launcher does not use (its git ignores every GIT_* variable but the config "
                "files', so that nothing points it elsewhere)",
                fix="run the launcher in a work tree with its own .git: a clone, or a linked worktree of that "
                    "repository (`git worktree add DIR BRANCH` there). A new repository made here would be a "
                    "second one in this tree, not the one your git uses",
                error_key="git_dir_in_environment",
            )
        return NoRepositoryHere(
            f"{start} is not inside a git work tree",
            fix="run the launcher inside a git repository (or `git init` one)",
        )
    if "must be run in a work tree" in reason:
        return EnvironmentProblem(
            f"{start} is not inside a git work tree: it is in a repository without one there (a bare "
            "repository or a git directory)",
            fix="run the launcher in a work tree of the repository (`git worktree list` names them)",
        )
    owner = re.search(r"dubious ownership in repository at '(.*)'", reason)
    if owner:
        fix = ("if you trust the repository, mark it safe as git says: "
               f"git config --global --add safe.directory {owner[1]}")
    else:
        fix = " ".join(lines[1:]) or "see git's message; `git status` there shows the same"
    return EnvironmentProblem(f"git cannot use the repository at {start}: {reason}", fix=fix)


def shown_output(done: process.Completed, what: str) -> str:
    """A command's output to show a person or a grader (never to parse), with a first line
    saying so when its start was too long to keep."""
    if not done.stdout_dropped:
        return done.text
    dropped = done.stdout_dropped
    size = f"{dropped / (1 << 20):.1f} MiB" if dropped >= 1 << 20 else f"{max(1, dropped >> 10)} KiB"
    return (f"[launcher: the first {size} ({dropped} bytes) of this {what} are not shown: it is "
            f"longer than the launcher reads]\n{done.text}")


_FULL_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# What `commit_of` never looks up as refs/heads/<rev>: an object id, HEAD and its kin, a full ref.
_NOT_A_BRANCH = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64}|[A-Z_]*HEAD)(?![^~^@:])|refs/|-")
_CHANGES_KEPT = 512


class GitRepo:
    """The work tree the launcher runs in (its "main checkout": approved work lands there, agents
    must not touch it), its own git dir, the repository's common git dir and the lock guarding it.

    The work tree is the one `git rev-parse --show-toplevel` names: the repository's main work
    tree, a linked worktree (`git worktree add`; also the bare-repository-plus-worktrees
    layout), a submodule or a work tree whose `.git` is a file (`git init --separate-git-dir`).
    `git_dir` holds its HEAD and index (the common git dir for the main work tree, else
    `<common>/worktrees/<id>`); refs, config, hooks and the lock are the common git dir's,
    shared by every worktree."""

    max_output = 64 * 1024 * 1024  # bytes of one git command's output read into memory

    def __init__(self, root: Path, common_dir: Path, git_dir: Path | None = None) -> None:
        self.root = root
        self.common_dir = common_dir
        self.git_dir = git_dir or common_dir
        self.lock = GitLock(common_dir / "launcher.lock")
        self.env = git_env()
        # How long one git command may run (git/time_limit.py): LAUNCHER_GIT_TIMEOUT, else grown
        # with the size of the index (None: no limit).
        self.timeout = time_limit.repository_limit(self.git_dir)
        self.signs_commits: bool | None = None  # commit.gpgsign, once read (git/signing.py)
        # The content filters configured when the run (or command) started (git/filters.py).
        self.filter_pin: FilterPin | None = None
        # (base, head) commit ids -> what the range changes: immutable, so asked once per process
        # (the collection lists it; the conflict matrix reuses it).
        self._changes: dict[tuple[str, str], list[Change]] = {}

    @classmethod
    async def discover(cls, start: Path) -> GitRepo:
        """The repository `start` is in, checked (git's version, not a reftable repository) and
        with the user's identity. Within `discovery_memo.discovery_kept()` (one CLI command) a start already
        discovered is answered from memory, a new GitRepo each time: one command asks it several
        times (the plan's config, the run) and each asking is four git commands."""
        at = discovery_memo.key(start, git_env())
        if (found := discovery_memo.known(at)) is not None:
            root, common_dir, git_dir, identity = found
            repo = cls(root, common_dir, git_dir)
            repo.env.update(identity)
            return repo
        repo = await cls._discover(start)
        identity = {k: v for k, v in repo.env.items() if git_env().get(k) != v}
        discovery_memo.keep(at, (repo.root, repo.common_dir, repo.git_dir, identity))
        return repo

    @classmethod
    async def _discover(cls, start: Path) -> GitRepo:
        try:
            version = await process.run(["git", "--version"], env=git_env(), timeout=30)
        except FileNotFoundError:  # SpawnNotFound: no git on PATH
            raise EnvironmentProblem(
                "git is not installed", fix="install git 2.38 or newer"
            ) from None
        match = re.search(r"(\d+)\.(\d+)", version.out)
        if not match or (int(match[1]), int(match[2])) < MIN_GIT:
            raise EnvironmentProblem(
                f"{version.out.strip()} is too old", fix="install git 2.38 or newer"
            )
        found = await process.run(
            ["git", "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir"],
            cwd=start, env=git_env(), timeout=30,
        )
        lines = found.out.splitlines()
        if not found.ok or len(lines) < 3:
            raise _not_usable(start, found.err)
        top, git_dir, common = lines[:3]
        common_dir = Path(common)
        if not common_dir.is_absolute():
            common_dir = start / common_dir
        refuse_reftable(common_dir, Path(top))
        repo = cls(Path(top).resolve(), common_dir.resolve(), Path(git_dir).resolve())
        await repo._use_user_identity()
        return repo

    async def _use_user_identity(self) -> None:
        """Commits are the user's: their `git config user.name/email` (the agent is named in
        each commit's Launcher-Agent trailer). LAUNCHER_GIT_NAME/EMAIL override it; without
        either, `launcher <launcher@localhost>` (git would refuse to commit otherwise)."""
        if "LAUNCHER_GIT_NAME" in os.environ or "LAUNCHER_GIT_EMAIL" in os.environ:
            return
        found = []
        for key in ("user.name", "user.email"):
            done = await process.run(["git", "config", "--get", key], cwd=self.root, env=self.env, timeout=30)
            found.append(done.out.strip() if done.ok else "")
        name, email = found
        if name and email:
            self.env.update({"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                             "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email})

    async def git(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        timeout: float | None = None,
        cut_ok: bool = False,
        stdout_to: BinaryIO | None = None,
        index_file: Path | None = None,
        env: dict[str, str] | None = None,
        stdin_from: Path | None = None,
        full_disk_ok: bool = False,
        timed_out_ok: bool = False,
        idle: bool = False,
    ) -> process.Completed:
        """Run git; retry transient `*.lock` contention instead of surfacing it. An output longer
        than the launcher keeps (64 MiB) raises GitOutputTooLarge unless `cut_ok` (shown to a
        person or a grader, marked as cut; never parsed); `stdout_to` takes all of it instead.
        `index_file`: a scratch index of the launcher's own (GIT_INDEX_FILE) instead of the
        checkout's, which this never touches. `env`: the whole environment for this one command
        instead of `self.env` (the content filters pinned to the run start's: git/filters.py).
        `stdin_from`: a file git reads as its input (`update-ref --stdin`).

        git failing because it could not write for want of space (a full disk, a quota, a
        read-only file system) raises OutOfSpace, `check` or not: that is the machine, never an
        answer nor a task's failure; the command stops with exit 3 ("free space, then `launcher
        resume`") and a run it drove is left interrupted, its work kept. `full_disk_ok`: the
        caller handles that failure itself (the landing's update of the main work tree undoes
        what git half-wrote, puts the target back and parks).

        `timeout`: seconds for this command; None, the repository's limit (`self.timeout`:
        LAUNCHER_GIT_TIMEOUT, else 600 s grown with the index, git/time_limit.py). A git stopped
        at its limit is no answer: GitTimedOut, `check` or not, naming the limit and how to raise
        it; `timed_out_ok` (with `check=False`): the caller handles that itself (`result.timed_out`, worded by
        `time_limit.stopped_words`), as the landing's update of the main work tree does. `idle`: the
        limit is on git's silence, not its wall time (process.run): a git streaming to a slow reader
        of `stdout_to` (`launcher diff | less` left open) is waiting on it, not stuck."""
        own_limit = timeout is not None
        limit = timeout if own_limit else self.timeout
        argv = ["git", *args[:1], *SAFE_FLAGS.get(args[0] if args else "", ()), *args[1:]]
        base_env = env or self.env
        run_env = base_env if index_file is None else {**base_env, "GIT_INDEX_FILE": str(index_file)}
        delay = 0.05
        for attempt in range(_LOCK_RETRIES + 1):
            result = await process.run(argv, cwd=cwd or self.root, env=run_env, timeout=limit, idle=idle,
                                       max_output=self.max_output, stdout_to=stdout_to, stdin_from=stdin_from)
            if result.ok or not _LOCK_CONTENTION.search(result.err) or attempt == _LOCK_RETRIES:
                break
            await anyio.sleep(delay)
            delay = min(delay * 2, 1.0)
        if result.timed_out and (check or not timed_out_ok):
            raise time_limit.timed_out(args, limit, own_limit, str(cwd or self.root), idle=idle)
        if not full_disk_ok and (full := out_of_space(result, args, cwd or self.root,
                                                      (self.git_dir, self.common_dir / "objects"))):
            raise full
        if result.stdout_dropped and not cut_ok:
            raise GitOutputTooLarge(
                f"`git {' '.join(args)[:200]}` printed {(len(result.stdout) + result.stdout_dropped) >> 20} MiB, "
                f"more than the {len(result.stdout) >> 20} MiB the launcher reads; it does not act on a cut output",
                where=str(cwd or self.root),
                fix="make the change smaller (fewer or smaller files per task), or report this case",
            )
        if check and not result.ok:
            raise GitFailed(
                f"`git {' '.join(args)}` failed: {result.err.strip() or result.text.strip()}",
                where=str(cwd or self.root),
                fix="see the git message above; `launcher clean` removes leftovers of a run",
            )
        return result

    async def git_to_file(self, path: Path, *args: str, cwd: Path | None = None) -> process.Completed:
        """`git args` with all of its output written to `path` (atomically: a temporary file
        renamed into place), never held in memory: a diff of a 200 MB file is no problem."""
        clear_leftovers(path)  # an agent's directory at `diff.patch` in its artifacts, say
        path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh name (O_EXCL): a FIFO an agent put at a name known in advance would block open().
        fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                result = await self.git(*args, cwd=cwd, stdout_to=out)
            os.replace(partial, path)
        except OSError as exc:  # no space left (ENOSPC) while writing: say which file
            if exc.filename is None and not isinstance(exc, (OutOfSpace, LimitReached)):
                raise OSError(exc.errno, exc.strerror, str(path)) from exc
            raise
        finally:
            Path(partial).unlink(missing_ok=True)
        return result

    async def rev_parse(self, rev: str, cwd: Path | None = None) -> str:
        found = await self.commit_of(rev, cwd=cwd)
        if found is None:
            raise GitFailed(f"{rev!r} is not a commit", where=str(self.root), fix="pass an existing commit or branch")
        return found

    async def commit_of(self, rev: str, cwd: Path | None = None) -> str | None:
        """The commit `rev` names, or None. A name is a branch first, as for `git switch`: with a
        tag `main` beside branch `main`, git's rev-parse takes the tag, the launcher the branch
        it lands on (and starts tasks from). Other names and expressions (a tag, HEAD~2,
        origin/main, an object id) as git resolves them."""
        for candidate in ([] if _NOT_A_BRANCH.match(rev) else [f"refs/heads/{rev}"]) + [rev]:
            result = await self.git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", cwd=cwd,
                                    check=False)
            if result.ok and result.out.strip():
                return result.out.strip()
        return None

    async def current_branch(self) -> str | None:
        """The branch checked out here (None on a detached HEAD). Read as a full ref: git's
        `--short` would say `heads/main` when a tag `main` exists."""
        result = await self.git("symbolic-ref", "--quiet", "HEAD", check=False)
        ref = result.out.strip() if result.ok else ""
        return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None

    async def is_ancestor(self, commit: str, of: str) -> bool:
        result = await self.git("merge-base", "--is-ancestor", commit, of, check=False)
        return result.returncode == 0

    async def branch_exists(self, branch: str) -> bool:
        result = await self.git("show-ref", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
        return result.ok

    async def status_porcelain(self, cwd: Path | None = None) -> list[str]:
        """`XY path` entries; `--no-renames`: with `-z` a staged rename's source path is a token of
        its own, which callers reading `entry[3:]` took for a path cut short (a user's `git mv` was
        then a file "deleted while the integration check ran")."""
        result = await self.git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", cwd=cwd)
        return [entry for entry in result.out.split("\0") if entry]

    async def changed_files(self, base: str, head: str) -> list[str]:
        return sorted(change.path for change in await self.changed_entries(base, head))

    async def changed_entries(self, base: str, head: str) -> list[Change]:
        """Each path that differs between two commits: its object at `head` (zeros when deleted)
        and whether it is a submodule pointer (a gitlink) on either side. Submodules are never
        hidden (`diff.ignoreSubmodules`)."""
        if (kept := self.known_changes(base, head)) is not None:
            return list(kept)
        result = await self.git("diff", "--raw", "-z", "--no-renames", "--no-abbrev",
                                "--ignore-submodules=none", base, head)
        tokens = iter(result.out.split("\0"))
        found = []
        for meta in tokens:
            if not meta.startswith(":"):
                continue
            path = next(tokens, "")
            fields = meta[1:].split(" ")
            if path and len(fields) >= 4:
                found.append(Change(path, "160000" in fields[:2], fields[3]))
        if _FULL_OID.fullmatch(base) and _FULL_OID.fullmatch(head):
            if len(self._changes) >= _CHANGES_KEPT:
                self._changes.pop(next(iter(self._changes)))
            self._changes[(base, head)] = list(found)
        return found

    def known_changes(self, base: str, head: str) -> list[Change] | None:
        """What `changed_entries(base, head)` returned before in this process, if it was asked."""
        return self._changes.get((base, head))

    async def ensure_excluded(self, pattern: str) -> None:
        """Add `pattern` to .git/info/exclude once (the journal lives in the main work tree)."""
        self.exclude(pattern)

    def exclude(self, pattern: str) -> None:
        """`ensure_excluded`, without waiting: a plain append to one small file."""
        guard.launcher_excludes(pattern)  # the guard of the shared git dir must not undo it
        exclude = self.common_dir / "info" / "exclude"
        try:
            add_exclude_line(exclude, pattern)
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot add {pattern} to git's exclude file: {exc.strerror or exc}", where=str(exclude),
                fix="make it a regular, writable file (move a directory or special file of that name aside)",
                error_key="exclude_unwritable",
            ) from None
