"""Commits on task branches: leftovers the agent did not commit, and rescue of partial work."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from launcher import tree_paths
from launcher.errors import GitFailed, LauncherError
from launcher.git import filters, index_flags, path_lists, submodules
from launcher.git.repo import GitRepo
from launcher.git.worktree_admin import admin_dir

# The trailers `land --from` writes into a landing commit and reads back from the target's history
# (app/land/origin.py): only the launcher may write them.
ORIGIN = "Launcher-Origin"
ORIGIN_HEAD = "Launcher-Origin-Head"
ATTEMPT = "Launcher-Attempt"  # the attempt a best-of-N task lands (Launcher-Origin-Head: the head its export named)
ORIGIN_PLAN = "Launcher-Origin-Plan"
_RESERVED_LINE = re.compile(r"^[ \t]*launcher-origin(?:-head|-plan)?[ \t]*:.*(?:\n|$)", re.IGNORECASE | re.MULTILINE)


def reserved_lines_dropped(message: str) -> str:
    """An agent's commit message, replayed onto the target by the rebase strategy, without any
    `Launcher-Origin`/`Launcher-Origin-Head`/`Launcher-Origin-Plan` line: what the agent wrote
    is not made to look like the launcher's record that a task landed."""
    return _RESERVED_LINE.sub("", message)


def with_trailers(message: str, trailers: dict[str, str]) -> str:
    lines = "\n".join(f"{key}: {value}" for key, value in trailers.items())
    return f"{message.rstrip()}\n\n{lines}\n"


async def head_of(repo: GitRepo, worktree: Path) -> str:
    return (await repo.git("rev-parse", "HEAD", cwd=worktree)).out.strip()


def rewound_past_start(start: str, head: str) -> str:
    """Why a branch whose head no longer contains its start commit cannot be approved."""
    return (f"its branch no longer contains the commit it started from ({start[:12]}): history was "
            f"reset or rewritten past it (now {head[:12]}); nothing was landed")


def loose_tip(repo: GitRepo, branch: str) -> str | None:
    """The commit of `branch` from its loose ref file, without a git process (None when the ref
    is packed, missing or unreadable: ask git then)."""
    try:
        value = (repo.common_dir / "refs" / "heads" / branch).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return value if len(value) in (40, 64) and all(c in "0123456789abcdef" for c in value) else None


async def head_or_none(repo: GitRepo, worktree: Path) -> str | None:
    """HEAD's commit, or None on a branch with no commit yet."""
    done = await repo.git("rev-parse", "--verify", "-q", "HEAD^{commit}", cwd=worktree, check=False)
    return done.out.strip() if done.ok and done.out.strip() else None


def loose_head(repo: GitRepo, worktree: Path) -> str | None:
    """The commit id a worktree's HEAD names, read from its files without a git process: its
    branch's loose ref (`loose_tip`), or the id a detached HEAD holds. None when git must be
    asked (a packed ref, another ref store, a HEAD or ref it cannot read)."""
    admin = admin_dir(worktree)
    try:
        head = (admin / "HEAD").read_text(encoding="ascii").strip() if admin is not None else ""
    except (OSError, UnicodeDecodeError):
        return None
    if head.startswith("ref: refs/heads/"):
        return loose_tip(repo, head.removeprefix("ref: refs/heads/"))
    return head if len(head) in (40, 64) and all(c in "0123456789abcdef" for c in head) else None


def _on_disk(worktree: Path, rel: str) -> bool:
    """Whether anything is at `rel` in the worktree (reached as git reaches it, so a path git
    handles is never taken for absent because its absolute path is too long)."""
    try:
        return tree_paths.lstat(worktree, rel) is not None
    except OSError:
        return True  # something is there that cannot be looked at: git will say what it is


async def take_in_skipped_files(repo: GitRepo, worktree: Path) -> list[str]:
    """Files `git add -A` would pass over although they may hold the agent's work: those on disk
    at skip-worktree paths (a sparse checkout's paths outside its cone), and every path marked
    assume-unchanged (`git update-index --assume-unchanged`, which an agent or a tool can set:
    git then never looks at the file again). What an agent wrote there would be left out of its
    commit, the task reported done without it, and lost with the worktree. The bits are cleared
    (skip-worktree as newer git does when it reads the index), so those files are committed like
    any other; a skip-worktree path not on disk stays skipped, not deleted. Returns the paths."""
    listed = await repo.git("ls-files", "-v", "-z", cwd=worktree)
    if index_flags.all_plain(listed.out):
        return []
    assumed: list[str] = []
    present: list[str] = []
    for entry in listed.out.split("\0"):
        tag, path = entry[:1], entry[2:]
        if tag.islower():
            assumed.append(path)
        if tag in ("S", "s") and _on_disk(worktree, path):
            present.append(path)
    for flag, paths in (("--no-assume-unchanged", assumed), ("--no-skip-worktree", present)):
        for start in range(0, len(paths), 500):  # a bounded argv per call
            await repo.git("update-index", flag, "--", *paths[start:start + 500], cwd=worktree)
    return sorted(set(assumed) | set(present))


async def stage_everything(repo: GitRepo, worktree: Path, env: dict[str, str] | None = None) -> list[str]:
    """`git add -A` of everything the agent left (ignored files stay out), also at paths a sparse
    checkout leaves out (`--sparse`; edits of skip-worktree and assume-unchanged files:
    `take_in_skipped_files`).

    A git repository with no commit that the agent made inside the worktree (`git init` of a
    scaffold) makes `git add -A` refuse everything; the rest is staged without it, and its
    paths are returned (its files stay in the worktree, uncommitted)."""
    return (await _stage(repo, worktree, env))[0]


async def _stage(repo: GitRepo, worktree: Path, env: dict[str, str] | None) -> tuple[list[str], dict[str, str] | None]:
    """`stage_everything`, and the regular files staged (path -> blob, what a commit of the index
    takes in: `filters.written_blobs`), None when that is not known from the listing."""
    await take_in_skipped_files(repo, worktree)
    pointers = await submodules.staged_pointers(repo, worktree)  # `git add -A` may undo them
    nested: list[str] = []
    for _ in range(_NESTED_ROUNDS):
        excluded = [f":(exclude,literal){path}" for path in nested]
        done = await repo.git("add", "-A", "--sparse", "--", ".", *excluded, cwd=worktree, check=False, env=env)
        found = [p for p in _NO_COMMIT_CHECKED_OUT.findall(done.err) if p not in nested]
        if done.ok or not found:
            break
        nested += found
    if not done.ok:
        raise GitFailed(f"`git add -A` failed in {worktree}: {(done.err or done.text).strip()}", where=str(worktree),
                        fix=_stage_fix(done.err))
    await submodules.keep_staged_pointers(repo, worktree, pointers)
    made, staged = await _unstage_made_repositories(repo, worktree)
    return nested + made, staged


def _stage_fix(err: str) -> str:
    """The way out of a refused `git add -A`; the agent's work stays in the worktree either way."""
    if "would be replaced by" in err:  # core.safecrlf=true: the line ends git would convert
        return ("core.safecrlf=true refuses the line endings the agent wrote (core.autocrlf or a "
                "`.gitattributes` eol rule would change them on checkout): set "
                "`git config core.safecrlf warn` in the repository, or have the agent write the line "
                "endings the rule asks for; the agent's work is still in the worktree")
    return "see the git message; the agent's work is still in the worktree"


async def _without_commit(repo: GitRepo, worktree: Path, paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        head = await repo.git("rev-parse", "--verify", "-q", "HEAD", cwd=worktree / path, check=False)
        if not head.ok:
            found.append(path)
    return found


async def _unstage_made_repositories(repo: GitRepo, worktree: Path) -> tuple[list[str], dict[str, str] | None]:
    """Repositories with a commit that the agent made inside the worktree (`git init` then `git
    commit` in a sub-directory): `git add -A` stages each as a gitlink, a pointer to a commit
    that exists only inside that directory, as if it were a submodule. One is a new gitlink at a
    path `.gitmodules` does not declare, with its own `.git`; it is taken out of the index again
    (its files stay in the worktree) and returned, as a repository with no commit is. Also the
    staged regular files (path -> blob; None when not known: no HEAD, or an entry taken out)."""
    staged = await repo.git("diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev",
                            "--ignore-submodules=none", "HEAD", cwd=worktree, check=False)
    fields = staged.out.split("\0")
    blobs = filters.blobs_of_raw_diff(staged.out) if staged.ok else None
    added = [path for meta, path in zip(fields[::2], fields[1::2], strict=False)
             if meta.startswith(":000000 160000 ")]
    if not added:
        return [], blobs
    declared = await submodules.declared(repo, worktree)
    made = [path for path in added if path not in declared and _on_disk(worktree, f"{path}/.git")]
    for batch in path_lists.batches(made):
        await repo.git("--literal-pathspecs", "reset", "-q", "--", *batch, cwd=worktree)
    return made, blobs if not made else None


_NO_COMMIT_CHECKED_OUT = re.compile(r"^error: '(.+)/' does not have a commit checked out$", re.M)
_NESTED_ROUNDS = 5  # git names every such repository at once; a few rounds for anything it missed


class NestedRepository(LauncherError):
    default_key = "nested_repository"

FilterTampered = filters.FilterTampered


# What `git commit` says (LC_ALL=C) when it has nothing to commit: the tree is clean, or the only
# changes are ones `git add` does not stage (content inside a submodule, reported separately).
_NOTHING_TO_COMMIT = ("nothing to commit", "nothing added to commit", "no changes added to commit")


async def commit_pending(
    repo: GitRepo, worktree: Path, message: str, trailers: dict[str, str]
) -> bool:
    """Commit everything the agent left uncommitted (ignored files stay out); True if it did.
    NestedRepository (after committing the rest) when a repository the agent made inside the
    worktree kept some of its files out.

    git's content filters are the run start's (git/filters.py): a filter another task's code
    configured meanwhile is switched off, and should it still have run (set again between the
    launcher's read of the config and git's), the commit is checked against the files on disk
    and discarded (FilterTampered), the work left uncommitted in the worktree."""
    before = loose_head(repo, worktree) or await head_or_none(repo, worktree)
    env = await filters.pinned_env(repo)
    nested, staged = await _stage(repo, worktree, env)
    made = set(nested) - set(await _without_commit(repo, worktree, nested))
    done = await repo.git(
        "commit", "-q", "--no-verify", "-m", with_trailers(message, trailers), cwd=worktree, check=False, env=env
    )
    if done.ok:  # hooks never run (core.hooksPath): the commit's tree is the index just listed
        await _verify_commit(repo, worktree, before, env, staged if before is not None else None)
    nothing = not done.ok and any(text in done.text + done.err for text in _NOTHING_TO_COMMIT)
    if nested and (done.ok or nothing):
        listed = ", ".join(f"{path}/" for path in nested)
        kind = ("with commits of its own inside its worktree ({}; a nested repository, not a submodule of "
                "this one)" if set(nested) & made else "with no commit inside its worktree ({})").format(listed)
        raise NestedRepository(
            f"the agent made a git repository {kind}: its files "
            f"cannot be committed to the task's branch and stay uncommitted in {worktree}"
            + ("; everything else is committed on the branch" if done.ok else ""),
            where=str(worktree / nested[0]),
            fix="the worktree is already a git repository: scaffold without `git init`; to keep those "
                "files, copy them out of the worktree (a plain `launcher clean` keeps it for that)")
    if done.ok:
        return True
    if nothing:
        return False
    raise GitFailed(
        f"`git commit` failed in {worktree}: {(done.err or done.text).strip()}", where=str(worktree),
        fix="see the git message; the agent's work is still in the worktree",
    )


async def _verify_commit(repo: GitRepo, worktree: Path, before: str | None, env: dict[str, str],
                         staged: dict[str, str] | None = None) -> None:
    """Every file the launcher's commit took in holds the bytes on disk (but where a filter the
    run started with applies): else the commit is undone (the branch put back, the index read
    from it again, the files left as they are) and FilterTampered says which files and filter.
    `staged`: what the commit took in, when the listing of the index before it says so."""
    written = staged if staged is not None else await filters.written_blobs(repo, before, "HEAD", cwd=worktree)
    wrong = await filters.unfiltered_mismatches(repo, worktree, written, env)
    if not wrong:
        return
    after = await head_of(repo, worktree)
    async with repo.lock.hold():
        if before is None:
            await repo.git("update-ref", "-d", "HEAD", after, cwd=worktree)
            await repo.git("read-tree", "--empty", cwd=worktree)
        else:
            await repo.git("update-ref", "-m", "launcher: commit discarded", "HEAD", before, after, cwd=worktree)
            await repo.git("read-tree", before, cwd=worktree)  # no -u, no refresh: no filter runs
    raise FilterTampered(
        f"the launcher's commit of the agent's work was discarded: git's content filter changed what "
        f"it committed for {filters.described(wrong)}, a filter that was not configured when the run "
        f"started (another task's code set it in the shared git config or attributes while this work "
        f"was committed). Nothing was landed; the work is still uncommitted in {worktree}",
        where=str(worktree),
        fix="remove that filter (`git config --unset` its keys, its line in .git/info/attributes) and "
            "run the task again; the run's notes name the task whose round changed the git config")


async def stash_commit(repo: GitRepo, worktree: Path, message: str, env: dict[str, str] | None = None) -> str:
    """Everything uncommitted in `worktree`, untracked files too, as a stash commit whose first
    parent is its HEAD (no ref made, the tree left as it is); "" when there is nothing."""
    await stage_everything(repo, worktree, env)
    return (await repo.git("stash", "create", message, cwd=worktree, env=env)).out.strip()


async def rescue_uncommitted(repo: GitRepo, worktree: Path, ref: str) -> str | None:
    """Save a dead agent's uncommitted work under `ref`, then clean the tree for a re-run.

    Nothing is lost: the work stays reachable from `ref` (and is listed in the journal).
    """
    env = await filters.pinned_env(repo)  # the run start's content filters only
    stash = await stash_commit(repo, worktree, "launcher: interrupted work", env)
    if not stash:
        return None
    async with repo.lock.hold():
        await repo.git("update-ref", ref, stash)
    await repo.git("reset", "-q", "--hard", "HEAD", cwd=worktree)
    await repo.git("clean", "-q", "-fd", cwd=worktree)  # no -x: include-copied files stay
    return stash


async def reset_to(repo: GitRepo, worktree: Path, commit: str) -> None:
    """Put a worktree back to `commit`: tracked files as committed, no untracked file left.
    Ignored files stay (no -x): include copies, virtualenvs, build caches."""
    async with repo.lock.hold():
        await repo.git("reset", "-q", "--hard", commit, cwd=worktree)
    await repo.git("clean", "-q", "-fd", cwd=worktree)


@dataclass(frozen=True)
class LeftBranch:
    """An agent that moved its worktree's HEAD off the task's branch."""

    where: str  # "branch feature/x" or "a detached HEAD"
    head: str
    carried: bool  # True: its commits built on the branch, which now holds them; False: kept at `saved`
    saved: str | None = None


async def return_to_branch(repo: GitRepo, worktree: Path, branch: str, save_ref: str) -> LeftBranch | None:
    """Put HEAD back on `branch` if the agent left it (`git switch -c`, a detached checkout).

    When HEAD builds on the branch's tip, the branch is moved to HEAD (the agent's commits are
    the task's work) and HEAD points at it again; otherwise nothing is moved and HEAD is saved
    under `save_ref`, so no commit is lost. None when HEAD never left the branch."""
    ref = f"refs/heads/{branch}"
    admin = admin_dir(worktree)
    try:  # the common case without a git process: the worktree's own HEAD file
        if admin is not None and (admin / "HEAD").read_text(encoding="utf-8").strip() == f"ref: {ref}":
            return None
    except OSError:
        pass
    on = await repo.git("symbolic-ref", "-q", "HEAD", cwd=worktree, check=False)
    if on.ok and on.out.strip() == ref:
        return None
    where = f"branch {on.out.strip().removeprefix('refs/heads/')}" if on.ok else "a detached HEAD"
    head = await head_or_none(repo, worktree)
    if head is None:  # an orphan branch with no commit yet: nothing of the branch's is in it
        return LeftBranch(where, "", carried=False, saved=save_ref)
    tip = await repo.rev_parse(ref)
    builds_on = await repo.is_ancestor(tip, head)
    async with repo.lock.hold():
        if not builds_on:
            await repo.git("update-ref", save_ref, head)
            return LeftBranch(where, head, carried=False, saved=save_ref)
        await repo.git("update-ref", "-m", f"launcher: the agent's commits from {where}", ref, head, tip)
    await repo.git("symbolic-ref", "HEAD", ref, cwd=worktree)  # the worktree's own HEAD
    return LeftBranch(where, head, carried=True)
