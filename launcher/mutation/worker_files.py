"""Git-ignored files and the sweep's worker trees (issue 11, cause 5).

A worker tree is a clean checkout of the base commit plus the main tree's uncommitted changes:
a git-ignored file the tests need (a `version.py` written at build time, a local config, compiled
`.mo` catalogues) is not there, and tests that skip without it would report false survivors.
Files named by `.worktreeinclude` are copied in, as for agents' worktrees, and so are the ignored
files that sit beside tracked ones (git lists them one by one, not inside a wholly ignored
directory such as `.venv/` or `build/`), caches, environments and logs left out, within a bound;
when the clean suite fails anyway, the ignored files the main tree has and the worker tree lacks
are named.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath

from launcher.git.include import is_safe_source, resolve_includes
from launcher.git.repo import GitRepo

_NOISE_PARTS = frozenset({".git", ".launcher", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                          ".tox", ".nox", ".venv", "venv", "node_modules", ".coverage"})  # fmt: skip
_NOISE_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".log", ".swp")
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
    """Ignored files git lists one by one (a wholly ignored directory is one `dir/` entry)."""
    listed = await repo.git("ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory")
    return [p for p in listed.out.split("\0") if p and not p.endswith("/") and not _noise(p)]


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


async def ignored_beside_tracked(repo: GitRepo, already: set[str], *, max_file: int | None = None,
                                 max_files: int | None = None, max_total: int | None = None
                                 ) -> tuple[list[str], list[str]]:  # fmt: skip
    """The git-ignored files beside tracked ones (not in `already`, the `.worktreeinclude` copies)
    that the worker trees get, and a note naming those left out over the bound (default: MAX_*)."""
    max_file = MAX_FILE if max_file is None else max_file
    max_files = MAX_FILES if max_files is None else max_files
    max_total = MAX_TOTAL if max_total is None else max_total
    copied: list[str] = []
    left: list[str] = []
    total = 0
    for rel in sorted(await _ignored_files(repo)):
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
