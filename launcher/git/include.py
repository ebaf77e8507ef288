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
from pathlib import Path, PurePosixPath

import anyio
import pathspec

from launcher.errors import UsageProblem
from launcher.git import cow_copy, path_lists
from launcher.git.repo import GitRepo
from launcher.models.decoding import read_document

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
    return pathspec.GitIgnoreSpec.from_lines(text.splitlines())


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


def is_safe_source(root: Path, rel: str) -> bool:
    """A regular file or symlink at `root/rel` that resolves inside `root`.

    Resolving checks both a symlink's target and every parent component, so neither a link
    pointing out of the repository nor a parent directory swapped for such a link passes.
    """
    if _is_forbidden(rel):
        return False
    src = root / rel
    try:
        root_real = root.resolve(strict=True)
        real = src.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on older Pythons
        return False
    if not real.is_relative_to(root_real):
        return False
    # The link itself must sit inside the root too (its parents are real directories).
    if not src.parent.resolve().is_relative_to(root_real):
        return False
    return src.is_symlink() or src.is_file()


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
    result = [rel for rel in matched if is_safe_source(repo.root, rel)]
    if refused is not None:
        refused += [_refusal(repo.root, rel, include_file) for rel in sorted(set(matched) - set(result))
                    if not _is_forbidden(rel)]
    return sorted(set(result))


def _copy_symlink(src: Path, dest: Path, src_root: Path, dest_root: Path) -> None:
    """Recreate a link that points inside the repo as a relative link inside the worktree.

    An absolute target would still point into the main work tree; rewrite it to the
    corresponding path in the worktree instead.
    """
    target = os.readlink(src)
    if os.path.isabs(target):
        rel_target = src.resolve().relative_to(src_root.resolve())
        target = os.path.relpath(dest_root / rel_target, dest.parent)
    os.symlink(target, dest)


def copy_includes(src_root: Path, dest_root: Path, paths: list[str]) -> list[str]:
    """Copy the include files into a worktree (mode and times kept); return what was copied.

    Each source is re-checked here: the list was computed once per run and may be stale.
    A path that already exists in the worktree (tracked at the start commit) is left alone.
    """
    copied: list[str] = []
    dest_real = dest_root.resolve()
    for rel in paths:
        if not is_safe_source(src_root, rel):
            continue
        src, dest = src_root / rel, dest_root / rel
        if dest.exists() or dest.is_symlink():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        # A tracked symlinked directory in the worktree must not redirect the copy outside.
        if not dest.parent.resolve().is_relative_to(dest_real):
            continue
        if src.is_symlink():
            _copy_symlink(src, dest, src_root, dest_root)
        else:
            cow_copy.copy_file(src, dest)  # copy-on-write where the file system allows
        copied.append(rel)
    return copied


async def copy_and_fingerprint(
    repo: GitRepo, dest_root: Path, paths: list[str]
) -> tuple[list[str], dict[str, str]]:
    """Copy the include files into a worktree; return what was copied and the object id of each
    copied file's content (-> its path), as `git add` would store it (filters applied) and as
    is, so that content landing under any other name is recognised (`git.secret_guard`)."""
    copied = await anyio.to_thread.run_sync(copy_includes, repo.root, dest_root, paths)
    files = [rel for rel in copied if not (dest_root / rel).is_symlink()]
    blobs: dict[str, str] = {}
    for filters in ([], ["--no-filters"]):
        if files:  # any number of files (a whole `node_modules`): read from stdin, never argv
            hashed = await path_lists.hash_paths(repo, files, *filters, cwd=dest_root)
            for rel, oid in zip(files, hashed.out.split(), strict=False):
                blobs.setdefault(oid, rel)
    return copied, blobs
