"""Reading the import audit: which modules a command imported from the main checkout.

The audit shim (launcher/data/import_audit/sitecustomize.py, first on the command's PYTHONPATH
when `command_env` gets an audit file) appends those files at interpreter exit, for the command
and every Python it starts. A file git ignores in the main checkout (a `.venv` inside it, a
generated file) is not the project's code and is let through; anything else means the command
tested the main checkout instead of its tree, and fails.
"""

from __future__ import annotations

from pathlib import Path

from launcher.git import path_lists
from launcher.git.import_roots import package_root, tree_import_roots
from launcher.git.repo import GitRepo
from launcher.regular_files import clear_path, read_capped


class ImportAudit:
    """One audit file, reused command after command (reset before each, removed once read)."""

    def __init__(self, repo: GitRepo, file: Path) -> None:
        self.repo = repo
        self.file = file

    def reset(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        clear_path(self.file)  # the shim creates it when it has something to say (a directory too: removed)

    async def outside_imports(self) -> list[str]:
        """The main checkout's files (relative paths) that the last command imported."""
        try:
            # Written from the checked code's own process: a regular file only, never blocking, bounded.
            lines = read_capped(self.file, 16 * 1024 * 1024).decode("utf-8", "replace").splitlines()
            clear_path(self.file)
        except OSError:
            return []
        main = self.repo.root.resolve()
        found: set[str] = set()
        for line in lines:
            try:
                found.add(Path(line).resolve().relative_to(main).as_posix())
            except (ValueError, OSError):
                continue  # not in the main checkout after all (a symlink elsewhere)
        found.discard("")
        if not found:
            return []
        # Any number of modules: the paths go through stdin (`-z`), never on the command line.
        ignored = await path_lists.git_reading(self.repo, "check-ignore", "--stdin", "-z", lines=sorted(found),
                                               nul=True, check=False)
        return sorted(found - set(ignored.out.split("\0")))


def _unknown_roots(files: list[str], main_root: Path) -> list[str]:
    """The package directories (`lib`) the files were imported from that are not import roots the
    launcher knows for the project (`git.import_roots`): nothing put the tree's copy first."""
    known = set(tree_import_roots(main_root))
    roots = (package_root(f, main_root) for f in files)
    return sorted({r for r in roots if r is not None and r not in known})


def outside_import_message(files: list[str], main_root: Path, what: str = "the check") -> str:
    """What went wrong, where, and the fix, for a command that imported the main checkout."""
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    said = (f"{what} imported {shown} from the main checkout {main_root}, not from its worktree: it ran "
            "the main checkout's code instead of the worktree's.")  # fmt: skip
    unknown = _unknown_roots(files, main_root)
    if unknown:
        root = unknown[0]
        return (
            f"{said} The package directory {', '.join(unknown)}/ is not an import root the launcher found in the "
            "project's packaging configuration (it reads pyproject.toml's [tool.setuptools], [tool.poetry], "
            "[tool.hatch], [tool.pdm] and setup.cfg's [options]; otherwise it takes src/), so an install of the main "
            "checkout (`pip install -e .`) was imported instead. Fix: declare it (pyproject.toml "
            f"`[tool.setuptools] package-dir = {{\"\" = \"{root}\"}}` or setup.cfg `[options] package_dir = ={root}`), "
            f"or put it first on the command's PYTHONPATH (`PYTHONPATH={root}:$PYTHONPATH <command>`)."
        )
    return (
        f"{said} Fix: import the code under test from the worktree (no sys.path or PYTHONPATH entry into the main "
        "checkout; no python -I or -E)."
    )
