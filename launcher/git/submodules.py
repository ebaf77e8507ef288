"""Submodules in the launcher's worktrees.

`git worktree add` leaves a submodule's directory empty, so an agent, its checks or the
integration check would build against nothing. Each submodule that the main checkout has cloned
is checked out in the worktree from that local clone: no network, objects hard-linked, at the
commit the tree records. The clone is the one the main checkout's submodule uses (its `.git`: a
directory of its own, or a file naming `<git dir>/modules/<name>`), else `<git dir>/modules/<name>`;
nested submodules the same way, level by level, from the clones under their parent's clone. One
the main checkout never initialised stays empty there too, as it is in the user's own checkout.

A submodule is what git takes for one: a `.gitmodules` entry whose path the tree's index holds
as a gitlink (mode 160000). An entry whose path holds ordinary tracked files (a dependency that
was a submodule and is now vendored, `.gitmodules` left behind) is no submodule: git ignores it,
and so does the launcher.

A task may not change which commit a submodule points at: that commit may exist only in the
task's worktree (gone once the worktree is removed), and landing the pointer would leave the main
checkout's submodule behind it. `changed_pointers` names such paths; the run fails the task,
keeping its branch (`pointer_problem`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from launcher.git.repo import GitRepo

_NAMED = 8  # files named in a message; the rest are counted
_TIPS_LOOKED_AT = 200  # newest entries of a submodule's HEAD reflog looked at (`commits_only_here`)
_CANDIDATES = 5000  # commits of a worktree's submodule looked up in the main clone (`commits_only_here`)
_IDS = 500  # commit ids per `git rev-list --no-walk` command line
_NESTING = 16  # levels of nested submodules checked out (`check_out`)


async def declared(repo: GitRepo, tree: Path) -> dict[str, str]:
    """Submodule path -> name: the entries of the tree's `.gitmodules` whose path is a gitlink in
    the tree's index, as git decides (empty without a `.gitmodules`)."""
    if not (tree / ".gitmodules").is_file():
        return {}
    listed = await repo.git("config", "-z", "--file", str(tree / ".gitmodules"), "--get-regexp",
                            r"^submodule\..*\.path$", cwd=tree, check=False)
    found: dict[str, str] = {}
    for entry in listed.out.split("\0"):
        key, _, path = entry.partition("\n")
        if key.startswith("submodule.") and key.endswith(".path") and path:
            found[path.strip("/")] = key[len("submodule."):-len(".path")]
    if not found:
        return {}
    # The index entries at (and, for a folder, under) those paths: a gitlink is one line.
    staged = await repo.git("--literal-pathspecs", "ls-files", "-s", "-z", "--", *found, cwd=tree, check=False)
    links = {entry.partition("\t")[2] for entry in staged.out.split("\0") if entry.startswith("160000 ")}
    return {path: name for path, name in found.items() if path in links}


def _repository(git_dir: Path) -> Path | None:
    return git_dir if (git_dir / "HEAD").is_file() and (git_dir / "objects").is_dir() else None


def _own_git_dir(checkout: Path) -> Path | None:
    """The repository a checked-out submodule directory uses: its `.git` directory (not absorbed
    into the superproject's git dir), or the directory its `.git` file names."""
    dot_git = checkout / ".git"
    if dot_git.is_dir():
        return _repository(dot_git)
    try:
        line = dot_git.read_text(errors="replace").strip() if dot_git.is_file() else ""
    except OSError:
        return None
    if not line.startswith("gitdir:"):
        return None
    return _repository((checkout / line[len("gitdir:"):].strip()).resolve())


def _local_clone(repo: GitRepo, name: str, path: str, modules: Path | None = None,
                 checkout: Path | None = None) -> Path | None:
    """The main checkout's clone of submodule `name` at `path`: the one its directory there uses,
    else `<modules>/<name>` (default: the common git dir's `modules`; a nested submodule's are
    under its parent's clone). `checkout` is the directory `path` is relative to (the main work
    tree by default)."""
    return (_own_git_dir((checkout or repo.root) / path)
            or _repository((modules or repo.common_dir / "modules") / name))


async def check_out(repo: GitRepo, tree: Path) -> list[str]:
    """Check out, in the worktree `tree`, every submodule the main checkout has cloned, from that
    clone, and inside each the nested submodules the main checkout has cloned too. Returns one
    line per submodule that could not be checked out (it stays empty)."""
    return await _check_out_level(repo, tree, "", repo.common_dir / "modules", repo.root, _NESTING)


async def _check_out_level(repo: GitRepo, tree: Path, prefix: str, modules: Path, checkout: Path,
                           depth: int) -> list[str]:
    """The submodules of the repository checked out at `tree` (`prefix`: its path in the
    worktree, for messages), from the main checkout's clones: `checkout` is the same
    repository's directory in the main checkout, `modules` its git dir's `modules`."""
    found = await declared(repo, tree)
    local = {path: clone for path, name in found.items()
             if (clone := _local_clone(repo, name, path, modules, checkout))}
    if not local:
        return []
    # The URL is given for this command only: `submodule init` would write it into the shared
    # config (which the run guards against changes), and the configured URL may be a remote.
    urls = [arg for path, clone in local.items() for arg in ("-c", f"submodule.{found[path]}.url={clone}")]
    done = await repo.git("--literal-pathspecs", "-c", "protocol.file.allow=always", *urls, "submodule", "update",
                          "--checkout", "--", *local, cwd=tree, check=False)
    problems = []
    if not done.ok:
        why = (done.err.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        empty = [path for path in local if not (tree / path).is_dir() or not any((tree / path).iterdir())]
        problems = [f"submodule {prefix}{path} was not checked out ({why})" for path in empty or local]
    if depth <= 1:
        return problems
    for path, clone in local.items():
        if os.path.lexists(tree / path / ".git"):  # checked out: its own submodules next
            problems += await _check_out_level(repo, tree / path, f"{prefix}{path}/", clone / "modules",
                                               checkout / path, depth - 1)
    return problems


async def with_uncommitted_work(repo: GitRepo, tree: Path) -> list[str]:
    """Submodules of `tree` holding changes not committed inside them (their files edited or
    added): work the task's branch cannot carry. Nothing to do without a `.gitmodules`."""
    paths = list(await declared(repo, tree))
    if not paths:
        return []
    status = await repo.git("--literal-pathspecs", "status", "--porcelain=v2", "-z", "--ignore-submodules=none",
                            "--", *paths,
                            cwd=tree, check=False)
    dirty = []
    for entry in status.out.split("\0"):
        fields = entry.split(" ")
        # "1 XY SCMU ...": S = a submodule; M = tracked changes inside it, U = untracked files.
        if len(fields) > 8 and fields[0] in ("1", "2") and fields[2].startswith("S") and \
                (fields[2][2] == "M" or fields[2][3] == "U"):
            dirty.append(fields[-1])
    return sorted(dirty)


@dataclass(frozen=True)
class OnlyHere:
    """What a worktree's submodule holds that the main checkout's clone of it does not."""

    commits: list[str]  # commits that clone does not have, newest first
    unchecked: str = ""  # why the check could not look at every commit ("" when it did)


async def _existing(repo: GitRepo, where: list[str], commits: list[str]) -> set[str] | None:
    """The commits among `commits` (full ids) that the repository `where` (`-C dir` or
    `--git-dir=dir`) has; None when git cannot tell. `--ignore-missing` drops the others."""
    found: set[str] = set()
    for start in range(0, len(commits), _IDS):
        done = await repo.git(*where, "rev-list", "--no-walk", "--ignore-missing", *commits[start : start + _IDS],
                              check=False)
        if not done.ok:
            return None
        found.update(done.out.split())
    return found


async def commits_only_here(repo: GitRepo, tree: Path) -> dict[str, OnlyHere]:
    """Submodule path -> the commits of that submodule, as checked out in the worktree `tree`,
    that the main checkout's clone of it (the repository its directory there uses, else
    `<git dir>/modules/<name>`) does not have: commits an
    agent made inside it. They live only in the worktree's own submodule git dir
    (`<git dir>/worktrees/<id>/modules/<name>`) and go with the worktree. Looked at: the
    submodule's HEAD and its HEAD reflog, its local branches and tags, and the commit the
    worktree's HEAD records for it, with their history. Exact: each commit is looked up in the
    main clone, but for the history of a tip the main clone has (a repository holds a commit's
    ancestors); past _CANDIDATES commits to look up, `unchecked` says the check stopped there."""
    found: dict[str, OnlyHere] = {}
    for path, name in (await declared(repo, tree)).items():
        sub = tree / path
        if not os.path.lexists(sub / ".git"):
            continue  # not checked out in this worktree: nothing of its own there
        listed = await repo.git("-C", str(sub), "for-each-ref", "--format=%(objectname)", "refs/heads",
                                "refs/tags", check=False)
        walked = await repo.git("-C", str(sub), "log", "-g", "--format=%H", "-n", str(_TIPS_LOOKED_AT),
                                "HEAD", check=False)
        head = await repo.git("-C", str(sub), "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        recorded = await repo.git("-C", str(tree), "--literal-pathspecs", "ls-tree", "-z", "HEAD", "--", path,
                                  check=False)
        pointer = [entry.split()[2] for entry in recorded.out.split("\0") if entry.startswith("160000 ")]
        present = list(dict.fromkeys([*head.out.split(), *walked.out.split(), *listed.out.split(), *pointer]))
        # The tips as commits of this clone (tags peeled; one it never had, such as a recorded
        # pointer it did not fetch, is nothing of the agent's).
        tips = await _existing(repo, ["-C", str(sub)], present) if present else set()
        if tips is None:
            found[path] = OnlyHere([], "git could not read its commits")
            continue
        if not tips:
            continue
        clone = _local_clone(repo, name, path)
        # Tips the main clone has hold nothing of the agent's, nor does their history: what is
        # left is what the agent committed on top (few), each then looked up in the main clone
        # (it may have it on no branch). Remote-tracking refs are copies of the main clone's.
        shared = (await _existing(repo, [f"--git-dir={clone}"], sorted(tips)) if clone else set()) or set()
        fresh = await repo.git("-C", str(sub), "rev-list", "--topo-order", f"--max-count={_CANDIDATES + 1}",
                               *sorted(tips), "--not", "--remotes", *sorted(shared), check=False)
        if not fresh.ok:
            found[path] = OnlyHere([], "git could not list its commits")
            continue
        candidates = fresh.out.split()
        unchecked = ""
        if len(candidates) > _CANDIDATES:
            candidates = candidates[:_CANDIDATES]
            unchecked = f"it stopped after looking up {_CANDIDATES} of its commits"
        have = await _existing(repo, [f"--git-dir={clone}"], candidates) if clone and candidates else set()
        if have is None:
            found[path] = OnlyHere([], "git could not read your checkout's clone of it")
            continue
        missing = [commit for commit in candidates if commit not in have]
        if missing or unchecked:
            found[path] = OnlyHere(missing, unchecked)
    return found


async def written_uninitialised(repo: GitRepo, tree: Path) -> list[str]:
    """Files in `tree` inside the directory of a submodule that is not checked out there (the
    main checkout never initialised it, so it has no `.git`), at any level of nesting: git sees
    nothing in such a directory, so `git status` lists nothing and `git add -A` takes nothing.
    Work written there would be lost with the worktree; the task must fail instead
    (`uninitialised_problem`)."""
    found: list[str] = []
    levels, depth = [tree], _NESTING
    while levels and depth:
        inner = []
        for level in levels:
            for path in await declared(repo, level):
                folder = level / path
                if not folder.is_dir() or folder.is_symlink():
                    continue
                if os.path.lexists(folder / ".git"):
                    inner.append(folder)  # checked out: its own submodules may not be
                    continue
                for where, dirs, files in os.walk(folder):
                    dirs.sort()
                    rel = Path(where).relative_to(tree).as_posix()
                    found += [f"{rel}/{name}" for name in sorted(files)]
                    found += [f"{rel}/{name}" for name in dirs if os.path.islink(os.path.join(where, name))]
        levels, depth = inner, depth - 1
    return sorted(found)


async def staged_pointers(repo: GitRepo, tree: Path) -> dict[str, tuple[str, str]]:
    """Submodule pointers staged in `tree`'s index that differ from its HEAD (path -> (HEAD's
    commit, the staged one)): `git update-index --cacheinfo 160000,<commit>,<path>`, or `git add`
    of a submodule checked out at another commit. Empty without a HEAD."""
    staged = await repo.git("diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev",
                            "--ignore-submodules=none", "HEAD", cwd=tree, check=False)
    if not staged.ok:
        return {}
    fields = staged.out.split("\0")
    found = {}
    for meta, path in zip(fields[::2], fields[1::2], strict=False):
        parts = meta.lstrip(":").split()
        if len(parts) >= 4 and parts[1] == "160000":
            found[path] = (parts[2], parts[3])
    return found


async def keep_staged_pointers(repo: GitRepo, tree: Path, staged: dict[str, tuple[str, str]]) -> list[str]:
    """Stage again the pointers of `staged` (`staged_pointers`, read before `git add -A`) that
    `git add -A` put back to HEAD's commit: it stages what the submodule has checked out, which is
    still HEAD's commit when the agent staged a pointer only. Dropped, the agent's change would
    vanish and the task be reported as one that changed nothing; kept, it is committed, and the
    task fails as any that moves a submodule pointer does (`pointer_problem`). Returns the paths."""
    if not staged:
        return []
    listed = await repo.git("--literal-pathspecs", "ls-files", "-s", "-z", "--", *staged, cwd=tree, check=False)
    now = {entry.partition("\t")[2]: entry.split()[1]
           for entry in listed.out.split("\0") if entry.startswith("160000 ")}
    reverted = [path for path, (before, _after) in staged.items() if now.get(path) == before]
    for path in reverted:
        await repo.git("update-index", "--cacheinfo", f"160000,{staged[path][1]},{path}", cwd=tree)
    return reverted


async def made_repositories(repo: GitRepo, tree: Path, start: str, gitlinks: list[str]) -> list[str]:
    """The gitlinks among `gitlinks` that are no submodule: new since `start` and not declared in
    the tree's `.gitmodules`. They are repositories the agent made (`git init`, a commit inside,
    `git add` of the directory), whose commits exist only in the worktree."""
    if not gitlinks:
        return []
    before = await repo.git("--literal-pathspecs", "ls-tree", "-z", start, "--", *gitlinks, check=False)
    was_gitlink = {entry.partition("\t")[2] for entry in before.out.split("\0") if entry.startswith("160000 ")}
    declared_now = await declared(repo, tree)
    return [path for path in gitlinks if path not in was_gitlink and path not in declared_now]


async def pointer_moves(repo: GitRepo, start: str, head: str, gitlinks: list[str]) -> dict[str, list[str]]:
    """path -> [the commit `start` records, the one `head` records] ("" where it records none),
    for the submodule pointers among `gitlinks`."""
    if not gitlinks:
        return {}
    ends = []
    for commit in (start, head):
        listed = await repo.git("--literal-pathspecs", "ls-tree", "-z", commit, "--", *gitlinks, check=False)
        ends.append({entry.partition("\t")[2]: entry.split()[2]
                     for entry in listed.out.split("\0") if entry.startswith("160000 ")})
    return {path: [ends[0].get(path, ""), ends[1].get(path, "")] for path in gitlinks}


def _moved(path: str, moves: dict[str, list[str]]) -> str:
    before, after = (moves.get(path) or ["", ""])[:2]
    if not before and not after:
        return path
    return f"{path} ({before[:12] or 'none'} -> {after[:12] or 'none'})"


def pointer_problem(gitlinks: list[str], made: list[str] | None = None,
                    moves: dict[str, list[str]] | None = None) -> str | None:
    """Why a task that changed submodule pointers cannot be approved (None if it changed none).
    `made` (a subset): new gitlinks that are no submodule, repositories the agent made. `moves`
    (`pointer_moves`): the commits each pointer went from and to, named in the message."""
    if made:
        listed = ", ".join(f"{path}/" for path in made)
        return (f"committed a git repository it made inside its worktree ({listed}; `git init` in a "
                "sub-directory: a nested repository, not a submodule of this one) as a pointer to a commit "
                "that exists only in that directory: the task's branch cannot carry its files. Scaffold "
                "without `git init` (the worktree is already a git repository); to keep those files, copy "
                "them out of the kept worktree")
    if not gitlinks:
        return None
    moved = ", ".join(_moved(path, moves or {}) for path in gitlinks)
    return (f"changed the commit of submodule {moved}: the launcher does not land "
            "submodule changes (the new commit may exist only in this worktree); make the change "
            "in the submodule's own repository, or leave the submodule as it is")


def uncommitted_problem(paths: list[str]) -> str | None:
    """Why a task that left uncommitted changes inside submodules cannot be approved."""
    if not paths:
        return None
    return (f"changed files inside submodule {', '.join(paths)} without committing them there: the "
            "task's branch cannot carry them (the launcher does not land submodule changes); they "
            "stay in its kept worktree")


def uninitialised_problem(files: list[str]) -> str | None:
    """Why a task that wrote into a submodule's directory, where the submodule is not checked
    out, cannot be approved."""
    if not files:
        return None
    named = ", ".join(files[:_NAMED]) + (f" and {len(files) - _NAMED} more" if len(files) > _NAMED else "")
    return (f"wrote {named} inside the directory of a submodule that is not initialised in this "
            "repository: git does not see files there, so the task's branch cannot carry them (the "
            "launcher does not land submodule changes); they stay in its kept worktree. Write them "
            "elsewhere, or initialise the submodule in the main checkout (git submodule update "
            "--init) and change it in its own repository")
