"""Git-ignored files and the sweep's worker trees (issue 11, cause 5).

A worker tree is a clean checkout of the base commit plus the main tree's uncommitted changes:
a git-ignored file the tests need (a `version.py` written at build time, a local config, compiled
`.mo` catalogues) is not there, and tests that skip without it would report false survivors.
Files named by `.worktreeinclude` are copied in, as for agents' worktrees, and so are the ignored
files that sit beside tracked ones and those inside a wholly ignored directory (`tests/data/`,
fetched fixtures: a test that skips without them makes its lines NoCoverage), caches,
environments, build output and logs left out, within a bound; what is left out over the bound is
named in a note. The launcher's own trees are never test data: its worktree root and its cache's
`launcher/` folder when they are inside the repository (other runs' task trees, this sweep's own
worker trees), and any directory holding a `.git` (a worktree or a nested clone, whose tests
pytest would collect against its own unmutated code). When the clean suite fails anyway, the
ignored files the main tree has and the worker tree lacks are named.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath

from launcher.git.include import is_safe_source, resolve_includes
from launcher.git.repo import GitRepo
from launcher.git.worktrees import default_worktree_root
from launcher.models.config import load_repo_config

_NOISE_PARTS = frozenset({".git", ".launcher", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                          ".tox", ".nox", ".venv", "venv", "node_modules", ".coverage"})  # fmt: skip
_NOISE_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".log", ".swp")
# Wholly ignored directories that are build output, environments or tool state, never test data.
_NOISE_DIRS = _NOISE_PARTS | frozenset({"build", "dist", "htmlcov", "site", ".eggs", ".hypothesis", ".cache",
                                        ".idea", ".vscode", "env", ".direnv", "target", "wheelhouse",
                                        ".ipynb_checkpoints", ".benchmarks", ".pytype", ".pyre", ".nox",
                                        ".coverage_html", "coverage", "_build"})  # fmt: skip
MAX_LISTED = 20000  # files looked at inside wholly ignored directories, in all
_SHOWN = 10
MAX_FILE = 16 * 2**20  # an ignored file beside tracked ones larger than this is not copied
MAX_FILES = 2000  # nor more files than this in all
MAX_TOTAL = 256 * 2**20  # nor more bytes in all


async def included_files(repo: GitRepo) -> list[str]:
    """The ignored files `.worktreeinclude` names: copied into every worker tree."""
    return await resolve_includes(repo)


def _noise(rel: str) -> bool:
    return any(part in _NOISE_PARTS for part in PurePosixPath(rel).parts) or rel.endswith(_NOISE_SUFFIXES)


async def _ignored_files(repo: GitRepo) -> list[str]:
    return (await _ignored_listing(repo))[0]


def launcher_trees(repo: GitRepo) -> list[str]:
    """The launcher's own folders inside the repository (relative, no trailing slash): the
    configured worktree root, or the default one's cache `launcher/` folder when
    $XDG_CACHE_HOME is inside the repository. They hold other runs' task trees and the sweep's
    own worker trees, never the project's test data."""
    root = repo.root.resolve()
    found: list[str] = []
    for place in (default_worktree_root(repo, load_repo_config(repo.root).worktree_root),
                  default_worktree_root(repo, None).parents[1]):  # fmt: skip
        try:
            rel = place.resolve().relative_to(root).as_posix()
        except ValueError:
            continue  # outside the repository
        if rel != ".":
            found.append(rel)
    return found


def _under(rel: str, trees: list[str]) -> bool:
    rel = rel.rstrip("/")
    return any(rel == tree or rel.startswith(tree + "/") for tree in trees)


def _holds_git(path: Path) -> bool:
    """A worktree or a nested clone (its `.git` a file or a directory)."""
    return os.path.lexists(path / ".git")


async def _ignored_listing(repo: GitRepo) -> tuple[list[str], list[str], list[str]]:
    """Ignored files: those git lists one by one, and the files inside a wholly ignored directory
    (one `dir/` entry) that is not build output, an environment, a cache or the launcher's own
    trees; those directories; and those not listed to the end (over MAX_LISTED files in all)."""
    listed = await repo.git("ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory")
    entries = [p for p in listed.out.split("\0") if p]
    own = launcher_trees(repo)
    files = [p for p in entries if not p.endswith("/") and not _noise(p) and not _under(p, own)]
    dirs: list[str] = []
    unlisted: list[str] = []
    budget = MAX_LISTED
    for directory in entries:
        if directory.endswith("/") and not _noise_dir(directory) and not _under(directory, own) \
                and not _holds_git(repo.root / directory):
            inside = _files_under(repo.root, directory.rstrip("/"), budget, own)
            if len(inside) >= budget:
                unlisted.append(directory)
            budget -= len(inside)
            files += inside
            dirs.append(directory)
    return files, dirs, unlisted


def _noise_dir(rel: str) -> bool:
    parts = PurePosixPath(rel.rstrip("/")).parts
    return _noise(rel.rstrip("/")) or any(part in _NOISE_DIRS or part.endswith(".egg-info") for part in parts)


def _files_under(root: Path, rel: str, budget: int, own: list[str]) -> list[str]:
    """The files (not symlinks) under a directory of the tree, at most `budget`; noise, the
    launcher's own trees (`own`) and worktrees or nested clones left out."""
    found: list[str] = []
    for here, dirs, names in os.walk(root / rel):
        base = PurePosixPath(Path(here).relative_to(root).as_posix())
        dirs[:] = sorted(d for d in dirs if d not in _NOISE_DIRS and not os.path.islink(os.path.join(here, d))
                         and not _under(str(base / d), own) and not _holds_git(Path(here, d)))  # fmt: skip
        for name in sorted(names):
            path = str(base / name)
            if len(found) >= budget:
                return found
            if not _noise(path) and os.path.isfile(os.path.join(here, name)) and not os.path.islink(
                    os.path.join(here, name)):
                found.append(path)
    return found


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


async def ignored_beside_tracked(repo: GitRepo, already: set[str], *, max_file: int | None = None,
                                 max_files: int | None = None, max_total: int | None = None
                                 ) -> tuple[list[str], list[str]]:  # fmt: skip
    """The git-ignored files beside tracked ones or in a wholly ignored directory other than build
    output, environments and caches (not in `already`, the `.worktreeinclude` copies) that the
    worker trees get, and notes naming the directories copied and the files left out over the
    bound (default: MAX_*)."""
    max_file = MAX_FILE if max_file is None else max_file
    max_files = MAX_FILES if max_files is None else max_files
    max_total = MAX_TOTAL if max_total is None else max_total
    copied: list[str] = []
    left: list[str] = []
    total = 0
    files, dirs, unlisted = await _ignored_listing(repo)
    for rel in sorted(files):
        if rel in already or not is_safe_source(repo.root, rel):
            continue
        try:
            size = (repo.root / rel).stat().st_size
        except OSError:
            continue
        if size > max_file or len(copied) >= max_files or total + size > max_total:
            left.append(rel)
            continue
        copied.append(rel)
        total += size
    notes: list[str] = []
    whole = [d for d in dirs if any(rel.startswith(d) for rel in copied)]
    if whole:  # (said apart: a test-data directory the tests skip without)
        shown = ", ".join(whole[:_SHOWN]) + (f" and {len(whole) - _SHOWN} more" if len(whole) > _SHOWN else "")
        notes.append(f"copied the git-ignored directories {shown} to worker trees (the tests may read them)")
    if unlisted:
        notes.append(f"did not look through all of the git-ignored directories {', '.join(unlisted[:_SHOWN])} (over "
                     f"{MAX_LISTED} files in all): name in .worktreeinclude the files the tests need, or tests that "
                     f"skip without them report survivors or NoCoverage")  # fmt: skip
    if left:
        shown = ", ".join(left[:_SHOWN]) + (f" and {len(left) - _SHOWN} more" if len(left) > _SHOWN else "")
        notes.append(
            f"did not copy {len(left)} git-ignored file(s) beside tracked files to worker trees (over the "
            f"bound: each <= {_mib(max_file)}, at most {max_files} files / {_mib(max_total)} in all): {shown}; "
            f"name in .worktreeinclude those the tests need, or tests that skip without them report survivors"
        )  # fmt: skip
    return copied, notes


def ignored_digest(root: Path, files: list[str]) -> str:
    """The names and content of the ignored files copied to worker trees ("" for none): a cached
    mutant verdict holds only with the same files (a test may skip without one)."""
    if not files:
        return ""
    digest = hashlib.sha256()
    for rel in sorted(set(files)):
        path = root / rel
        data = path.read_bytes() if path.is_file() else b"<absent>"
        digest.update(os.fsencode(f"\0{rel}\0") + hashlib.sha256(data).digest())
    return digest.hexdigest()[:32]


async def missing_ignored(repo: GitRepo, tree: Path) -> list[str]:
    """Git-ignored files (not whole ignored directories, nor caches and environments) that the
    main tree has and `tree` lacks."""
    missing: list[str] = []
    for rel in await _ignored_files(repo):
        if not (tree / rel).exists():
            missing.append(rel)
        if len(missing) >= _SHOWN:
            break
    return missing
