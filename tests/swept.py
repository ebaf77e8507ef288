"""A small Python project in a real repository, swept in this process (the mutation tests' helpers)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
from conftest import git, write_files

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation.results import MutantRecord


def project(root: Path, files: dict[str, str]) -> Path:
    """A repository on main whose one commit holds `files`."""
    write_files(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return root


def sweep(root: Path, paths: list[str], operators: list[str], **options: Any) -> SweepOutcome:
    """One worker, this interpreter, a generous minimum timeout (the machine is shared)."""
    options.setdefault("timeout_min_s", 20.0)
    opts = SweepOptions(paths=paths, operators=operators, workers=1, python=sys.executable, **options)
    return anyio.run(run_sweep, root, opts, lambda _line: None, None)


def record(outcome: SweepOutcome, mutated: str) -> MutantRecord:
    """The one result whose mutated line holds `mutated`."""
    (found,) = [r for r in outcome.results if mutated in r.mutant.mut]
    return found
