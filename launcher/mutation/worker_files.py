"""Git-ignored files and the sweep's worker trees (issue 11, cause 5).

A worker tree is a clean checkout of the base commit plus the main tree's uncommitted changes:
a git-ignored file the tests need (a `version.py` written at build time, a local config) is not
there. Files named by `.worktreeinclude` are copied in, as for agents' worktrees; when the clean
suite fails anyway, the ignored files the main tree has and the worker tree lacks are named.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from launcher.git.include import resolve_includes
from launcher.git.repo import GitRepo

_NOISE_PARTS = frozenset({".git", ".launcher", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                          ".tox", ".nox", ".venv", "venv", "node_modules", ".coverage"})  # fmt: skip
_NOISE_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".log", ".swp")
_SHOWN = 10


async def included_files(repo: GitRepo) -> list[str]:
    """The ignored files `.worktreeinclude` names: copied into every worker tree."""
    return await resolve_includes(repo)


async def missing_ignored(repo: GitRepo, tree: Path) -> list[str]:
    """Git-ignored files (not whole ignored directories, nor caches and environments) that the
    main tree has and `tree` lacks."""
    listed = await repo.git("ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory")
    missing: list[str] = []
    for rel in (p for p in listed.out.split("\0") if p and not p.endswith("/")):
        parts = PurePosixPath(rel).parts
        if any(part in _NOISE_PARTS for part in parts) or rel.endswith(_NOISE_SUFFIXES):
            continue
        if not (tree / rel).exists():
            missing.append(rel)
        if len(missing) >= _SHOWN:
            break
    return missing
