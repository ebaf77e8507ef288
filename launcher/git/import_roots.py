"""Where Python imports a worktree's code from, and a PYTHONPATH that makes it import from there.

A project installed in editable mode (`pip install -e .`) is imported from the MAIN checkout: a
`.pth` file puts `<main>/src` on sys.path (after PYTHONPATH), or setuptools' editable finder maps
the package to the main checkout (appended to sys.meta_path, after the path finder). Either way,
a command run in a worktree would test the main checkout's code, not the worktree's. Putting the
worktree's own import roots first on PYTHONPATH wins over both. The run pipeline (checks, setup,
rubric checks, integration check) and the mutation sweep (its worker trees) share this.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from launcher.git.package_dirs import declared_roots


def package_root(rel: str, root: Path) -> str | None:
    """The directory (relative to `root`) that the module file `rel` is imported from when that
    is not `root` itself: `src` for `src/pkg/mod.py`; None for a module of a flat layout."""
    parent = PurePosixPath(rel).parent
    while parent != PurePosixPath(".") and (root / parent / "__init__.py").is_file():
        parent = parent.parent  # up through the package
    return None if parent == PurePosixPath(".") else parent.as_posix()


def _holds_python(directory: Path) -> bool:
    """A module, or a directory holding one (a package, a namespace package), right inside."""
    try:
        for entry in directory.iterdir():
            if entry.suffix == ".py" and entry.is_file():
                return True
            if entry.is_dir() and not entry.name.startswith(".") and any(entry.glob("*.py")):
                return True
    except OSError:
        return False
    return False


def _declared_roots(tree: Path) -> list[str]:
    """The package directories the packaging configuration declares (git/package_dirs.py)."""
    return declared_roots(tree)


def tree_import_roots(tree: Path) -> list[str]:
    """The worktree's import roots, relative to it, most specific first: a src layout's `src`
    (or what pyproject.toml or setup.cfg declares), then the tree itself ("." ) for a flat layout."""
    roots: list[str] = []
    for rel in [*_declared_roots(tree), "src"]:
        clean = PurePosixPath(rel).as_posix()
        if clean in (".", "") or clean in roots or clean.startswith(("/", "..")):
            continue
        if _holds_python(tree / clean):
            roots.append(clean)
    return [*roots, "."]


def mapped_into(tree: Path, entry: str, main_root: Path | None) -> str:
    """`entry` (a PYTHONPATH entry) moved to the same place in `tree` when it points into the
    main checkout and that place exists in the tree; unchanged otherwise."""
    if main_root is None or not entry:
        return entry
    for base in {main_root.absolute(), main_root.resolve()}:
        try:
            rel = Path(entry).absolute().relative_to(base)
        except ValueError:
            continue
        moved = tree / rel
        return str(moved) if moved.exists() else entry
    return entry


def python_path(
    tree: Path, roots: Sequence[str], *first: str, main_root: Path | None = None,
    inherited: str | None = None,
) -> dict[str, str]:
    """PYTHONPATH for a run in `tree`: `first`, the tree's import roots, then the inherited
    PYTHONPATH (ours unless given) with its entries into the main checkout moved into `tree`."""
    inherited = os.environ.get("PYTHONPATH", "") if inherited is None else inherited
    own = [str(tree / r) if r != "." else str(tree) for r in roots]
    kept = [mapped_into(tree, p, main_root) for p in inherited.split(os.pathsep) if p]
    parts: list[str] = []
    for part in [*first, *own, *kept]:
        if part and part not in parts:
            parts.append(part)
    return {"PYTHONPATH": os.pathsep.join(parts)} if parts else {}
