"""Review 15, regress15b: what the fixes promise.

- 02: a mutation sweep copies git-ignored test data into its worker trees, but never the
  launcher's own trees inside the repository (an in-repo `worktree_root`, a `$XDG_CACHE_HOME`
  inside it) nor a worktree or nested clone (a directory holding `.git`): pytest would collect
  their tests against their own unmutated code, and the clean suite could fail.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.git.repo import GitRepo
from launcher.mutation.model import MutantStatus
from launcher.mutation.worker_files import ignored_beside_tracked, missing_ignored

CALC = {
    "pkg/__init__.py": "",
    "pkg/calc.py": "def double(x):\n    return x * 2\n",
    "tests/test_calc.py": "from pkg.calc import double\n\n\ndef test_double():\n    assert double(3) == 6\n",
}


def project(root: Path, files: dict[str, str]) -> Path:
    write_files(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def copied_to_workers(root: Path) -> tuple[list[str], list[str]]:
    return anyio.run(lambda: ignored_beside_tracked(GitRepo(root, root / ".git"), set()))


def sweep(root: Path, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 1)
    options.setdefault("python", sys.executable)
    return anyio.run(run_sweep, root, SweepOptions(**options), lambda _line: None)


# --- 02: the launcher's own trees are not test data ----------------------------------------


def test_a_kept_task_worktree_under_an_in_repo_worktree_root_is_not_copied_and_the_sweep_runs(
        tmp_path: Path) -> None:  # fmt: skip
    root = project(tmp_path / "repo", {**CALC, "launcher.toml": 'worktree_root = "wt"\n'})
    with (root / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("/wt/\n")  # as the launcher keeps an in-repo worktree root out of git
    git(root, "worktree", "add", "-q", "-b", "launcher/run_x/t", "wt/run_x/t")  # a kept task tree
    # ... whose copied test would fail (it clashes with tests/test_calc.py by basename)
    write_files(root, {"wt/run_x/t/tests/test_calc.py": "def test_broken():\n    assert False\n"})

    copied, notes = copied_to_workers(root)
    assert copied == [] and notes == []
    assert anyio.run(missing_ignored, GitRepo(root, root / ".git"), tmp_path / "empty") == []

    outcome = sweep(root, paths=["pkg/calc.py"])
    assert outcome.results and all(r.status is MutantStatus.KILLED for r in outcome.results), outcome.results


def test_the_launcher_cache_inside_the_repository_is_not_copied_but_other_data_beside_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    root = project(tmp_path / "repo", {**CALC, ".gitignore": "cache/\n"})
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    write_files(root, {
        "cache/launcher/worktrees/repo-1234abcd/run_x/t/tests/test_calc.py": "def test_x():\n    pass\n",
        "cache/launcher/ports.json": "{}\n",
        "cache/fixtures/sample.csv": "1,2,3\n",  # the project's own fetched data
    })  # fmt: skip

    copied, _notes = copied_to_workers(root)
    assert copied == ["cache/fixtures/sample.csv"]


def test_an_ignored_worktree_or_nested_clone_is_not_copied_as_test_data(tmp_path: Path) -> None:
    root = project(tmp_path / "repo", {**CALC, ".gitignore": "vendor/\ntests/data/\n"})
    write_files(root, {"vendor/lib/tests/test_lib.py": "def test_lib():\n    pass\n",
                       "vendor/notes/readme.txt": "kept\n",
                       "tests/data/sample.csv": "1,2,3\n"})  # fmt: skip
    git(root / "vendor" / "lib", "init", "-q")  # a nested clone inside a wholly ignored directory
    write_files(root, {"tests/data/clone/x.txt": "x\n"})
    git(root / "tests" / "data" / "clone", "init", "-q")

    copied, _notes = copied_to_workers(root)
    assert sorted(copied) == ["tests/data/sample.csv", "vendor/notes/readme.txt"]
