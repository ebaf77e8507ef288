"""`.worktreeinclude`: git-ignored files (a `.env`, local config) copied into each new worktree.

A file is included only if it matches the include spec (gitignore syntax) **and** git ignores
it; a tracked file never is. The spec is matched with `pathspec.GitIgnoreSpec`.

Finding candidates: instead of walking ignored directories (a `.venv/` or `node_modules/` holds
tens of thousands of files) in Python, we let git's C walker list only the untracked files that
match the include patterns (`ls-files --others --ignored --exclude-from=<include>`), then keep
those that git really ignores (`ls-files ... --exclude-standard --directory`, which collapses a
wholly ignored directory into one `dir/` entry) and that `pathspec` matches too. Nothing
unmatched inside a big ignored directory ever reaches Python.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import anyio

from launcher.errors import UsageProblem
from launcher.git import cow_copy, path_lists
from launcher.git.repo import GitRepo
from launcher.models import ignore_patterns
from launcher.models.decoding import read_document

if TYPE_CHECKING:
    import pathspec

# Never copied, whatever the include file says: git's own data and the launcher's journal.
_FORBIDDEN_TOP = frozenset({".git", ".launcher"})


def load_spec(path: Path) -> pathspec.GitIgnoreSpec | None:
    """The include spec at `path`, or None if there is no such file."""
    if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO: a read would wait forever
        raise UsageProblem(f"{path.name} is not a regular file", where=str(path),
                           fix=f"make {path.name} a regular file, or move it aside")
    if path.is_dir():
        return None
    try:  # as the editor shows it (a byte-order mark dropped, as git does), at most 64 MiB
        text = read_document(path, errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError as exc:  # unreadable: the files it names would silently not be copied
        raise UsageProblem(f"cannot read {path.name}: {exc.strerror or exc}", where=str(path),
                           fix=f"make {path.name} readable, or move it aside") from None
    lines = text.splitlines()
    found = ignore_patterns.first_problem(lines)
    if found:  # refused before any worktree is made, not an internal error
        raise UsageProblem(found[1], where=f"{path}:{found[0]}",
                           fix=f"correct or delete line {found[0]} of {path.name} (gitignore syntax, e.g. \".env\")")
    return ignore_patterns.ignore_spec(lines)


def _split_z(output: str) -> list[str]:
    return [entry for entry in output.split("\0") if entry]


def _is_forbidden(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or ".." in parts:
        return True
    return parts[0] in _FORBIDDEN_TOP or ".git" in parts


def _under_ignored(rel: str, files: set[str], dirs: set[str]) -> bool:
    """Whether git ignores `rel`: listed itself, or inside a collapsed ignored directory."""
    if rel in files:
        return True
    parts = rel.split("/")
    return any("/".join(parts[:i]) + "/" in dirs for i in range(1, len(parts)))


class _Sources:
    """The safety check of `is_safe_source` for many paths under one root, each directory
    resolved once (a `node_modules` holds tens of thousands of files in a few thousand
    directories): one `lstat` a regular file, a `realpath` a symlink."""

    def __init__(self, root: Path) -> None:
        self.root = os.fspath(root)
        self.real = os.path.realpath(root, strict=True)  # OSError when the root is gone
        self.parents: dict[str, bool] = {}

    def inside(self, real: str) -> bool:
        return real == self.real or real.startswith(self.real.rstrip(os.sep) + os.sep)

    def check(self, rel: str) -> os.stat_result | None:
        """`lstat` of `root/rel` when it is a safe source (see `is_safe_source`), else None."""
        if _is_forbidden(rel):
            return None
        parent = rel.rpartition("/")[0]
        parent_ok = self.parents.get(parent)
        if parent_ok is None:
            try:
                parent_ok = self.inside(os.path.realpath(os.path.join(self.root, parent)))
            except (OSError, ValueError):
                parent_ok = False
            self.parents[parent] = parent_ok
        if not parent_ok:  # the link itself must sit inside the root too (its parents are real directories)
            return None
        src = os.path.join(self.root, rel)
        try:
            info = os.lstat(src)
            if stat.S_ISLNK(info.st_mode):
                return info if self.inside(os.path.realpath(src)) else None
        except (OSError, ValueError, RuntimeError):  # RuntimeError: a symlink loop on older Pythons
            return None
        # A regular file resolves to its parent's real path and its own name: inside the root.
        return info if stat.S_ISREG(info.st_mode) else None


def safe_sources(root: Path, paths: list[str]) -> list[str]:
    """The `paths` that `is_safe_source` keeps, checked a directory at a time."""
    try:
        sources = _Sources(root)
    except (OSError, ValueError):
        return []
    return [rel for rel in paths if sources.check(rel) is not None]


def is_safe_source(root: Path, rel: str) -> bool:
    """A regular file or symlink at `root/rel` that resolves inside `root`.

    Resolving checks both a symlink's target and every parent component, so neither a link
    pointing out of the repository nor a parent directory swapped for such a link passes.
    """
    return bool(safe_sources(root, [rel]))


def _refusal(root: Path, rel: str, include_file: str) -> str:
    """Why a path `include_file` matches is not copied, and what to do instead."""
    src = root / rel
    if src.is_symlink():
        try:
            where = f" to {os.readlink(src)}"
        except OSError:
            where = ""
        what = f"is a symlink{where} that leads outside the repository"
    else:
        what = "is not a regular file inside the repository"
    return (f"{rel} (matched by {include_file}) {what}: not copied into the worktrees; copy the file itself "
            f"into the repository (it stays ignored), or let the task's `setup` provide it")


async def resolve_includes(repo: GitRepo, include_file: str = ".worktreeinclude",
                           refused: list[str] | None = None) -> list[str]:
    """Relative POSIX paths of ignored, untracked files in the main tree matching the spec.
    `refused` gets a line for each matching path that is not copied (a link out of the tree)."""
    include_path = repo.root / include_file
    spec = load_spec(include_path)
    if spec is None or not spec.patterns:
        return []
    if refused is not None:
        refused += [f"{pattern!r} in {include_file} matches nothing: its patterns name paths inside the repository, "
                    "and `..` never matches; copy the file itself into the repository (it stays ignored), or let "
                    "the task's `setup` provide it" for pattern in _outside_patterns(spec)]
    candidates = await repo.git(
        "ls-files", "-z", "--others", "--ignored", f"--exclude-from={include_path}"
    )
    wanted = [p for p in _split_z(candidates.out) if not p.endswith("/")]
    if not wanted:
        return []
    ignored = await repo.git(
        "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"
    )
    entries = _split_z(ignored.out)
    ignored_dirs = {e for e in entries if e.endswith("/")}
    ignored_files = {e for e in entries if not e.endswith("/")}
    matched = [
        rel
        for rel in wanted
        if _under_ignored(rel, ignored_files, ignored_dirs)
        and spec.match_file(rel)  # both matchers must agree (e.g. negations under a dir)
    ]
    safe = safe_sources(repo.root, matched)
    unreadable = {rel: why for rel in safe if (why := _unreadable(repo.root / rel)) is not None}
    result = [rel for rel in safe if rel not in unreadable]
    if refused is not None:
        refused += [_refusal(repo.root, rel, include_file) for rel in sorted(set(matched) - set(safe))
                    if not _is_forbidden(rel)]
        refused += [f"{rel} (matched by {include_file}) cannot be read ({why}): not copied into the worktrees; "
                    f"make it readable by the user running the launcher, or leave it out of {include_file}"
                    for rel, why in sorted(unreadable.items())]
    return sorted(set(result))


def _outside_patterns(spec: pathspec.GitIgnoreSpec) -> list[str]:
    """The patterns with a `..` component (`../shared/.env`): meant for a file outside the
    repository, which git's matching never reaches, so they silently copied nothing."""
    found: list[str] = []
    for pattern in spec.patterns:
        text = getattr(pattern, "pattern", None)
        if isinstance(text, str) and ".." in text.removeprefix("!").strip().split("/"):
            found.append(text.strip())
    return found


def _unreadable(path: Path) -> str | None:
    """Why the regular file at `path` cannot be opened for reading (a `.env` owned by another
    user, mode 600), else None; a link is recreated, never read. Copying it failed the run."""
    if path.is_symlink():
        return None
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _copy_symlink(src: str, dest: str, src_real: str, dest_root: Path) -> None:
    """Recreate a link that points inside the repo as a relative link inside the worktree.

    An absolute target would still point into the main work tree; rewrite it to the
    corresponding path in the worktree instead.
    """
    target = os.readlink(src)
    if os.path.isabs(target):
        rel_target = os.path.relpath(os.path.realpath(src), src_real)
        target = os.path.relpath(os.path.join(dest_root, rel_target), os.path.dirname(dest))
    os.symlink(target, dest)


def _dest_dir(dest_root: Path, dest_real: str, parent: str) -> bool:
    """Make the worktree's directory `parent` (relative); False when it is or would be reached
    through a link out of the worktree (a tracked symlinked directory), or a file is in the way."""
    where = os.path.join(dest_root, parent)

    def inside() -> bool:
        real = os.path.realpath(where)
        return real == dest_real or real.startswith(dest_real.rstrip(os.sep) + os.sep)

    try:  # checked before anything is made (never a directory outside) and after
        if not inside():
            return False
        os.makedirs(where, exist_ok=True)
        return inside()
    except (OSError, ValueError):
        return False


def _copy_all(src_root: Path, dest_root: Path, paths: list[str]) -> tuple[list[str], list[str]]:
    """`copy_includes`, and which of the copied paths are regular files (not links)."""
    copied: list[str] = []
    files: list[str] = []
    try:
        sources = _Sources(src_root)
    except (OSError, ValueError):
        return copied, files
    dest_real = os.path.realpath(dest_root)
    dirs: dict[str, bool] = {}  # parent (relative) -> made, inside the worktree
    for rel in paths:
        info = sources.check(rel)
        if info is None:
            continue
        parent = rel.rpartition("/")[0]
        made = dirs.get(parent)
        if made is None:
            made = dirs[parent] = _dest_dir(dest_root, dest_real, parent)
        if not made:
            continue
        src, dest = os.path.join(src_root, rel), os.path.join(dest_root, rel)
        try:
            if stat.S_ISLNK(info.st_mode):
                _copy_symlink(src, dest, sources.real, dest_root)
            else:
                cow_copy.copy_file(src, dest, info)  # copy-on-write where the file system allows
                files.append(rel)
        except FileExistsError:  # tracked at the start commit (or a link there): left alone
            continue
        except OSError:  # unreadable since the run started (said then if it was already): not copied
            continue
        copied.append(rel)
    return copied, files


def copy_includes(src_root: Path, dest_root: Path, paths: list[str]) -> list[str]:
    """Copy the include files into a worktree (mode and times kept); return what was copied.

    Each source is re-checked here: the list was computed once per run and may be stale.
    A path that already exists in the worktree (tracked at the start commit) is left alone.
    """
    return _copy_all(src_root, dest_root, paths)[0]


async def copy_and_fingerprint(
    repo: GitRepo, dest_root: Path, paths: list[str]
) -> tuple[list[str], dict[str, str]]:
    """Copy the include files into a worktree; return what was copied and the object id of each
    copied file's content (-> its path), as `git add` would store it (filters applied) and as
    is, so that content landing under any other name is recognised (`git.secret_guard`)."""
    copied, files = await anyio.to_thread.run_sync(_copy_all, repo.root, dest_root, paths)
    blobs: dict[str, str] = {}
    for filters in ([], ["--no-filters"]):
        if files:  # any number of files (a whole `node_modules`): read from stdin, never argv
            hashed = await path_lists.hash_paths(repo, files, *filters, cwd=dest_root)
            for rel, oid in zip(files, hashed.out.split(), strict=False):
                blobs.setdefault(oid, rel)
    return copied, blobs
