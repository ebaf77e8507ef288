"""`mutation sweep PATH` for a path that is not on disk says why truly: a tracked folder or file
outside the sparse-checkout cone is outside the sparse-checkout (with the `git sparse-checkout
add` that brings it in), a tracked file deleted from the work tree is deleted, and only a path
git does not know is "no such path"."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from conftest import git, write_files
from helpers import launcher_cli

from launcher.errors import UsageProblem
from launcher.mutation.discover import source_files


@pytest.fixture
def sparse(tmp_path: Path) -> Path:
    """A repository checked out with the cone `src tests`; `other/mod.py` is tracked, not on disk."""
    root = write_files(tmp_path / "repo", {
        "src/calc.py": "def add(a, b):\n    return a + b\n",
        "other/mod.py": "def mul(a, b):\n    return a * b\n",
        "tests/test_calc.py": "def test_nothing():\n    assert True\n",
    })  # fmt: skip
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    git(root, "sparse-checkout", "set", "--cone", "src", "tests")
    assert not (root / "other").exists() and git(root, "ls-files", "other") == "other/mod.py\n"
    return root


def _refusal(root: Path, path: str) -> UsageProblem:
    with pytest.raises(UsageProblem) as refused:
        anyio.run(source_files, root, [path])
    return refused.value


def test_a_tracked_folder_outside_the_sparse_cone_is_named_as_such_with_the_command_to_add_it(sparse: Path) -> None:
    done = launcher_cli(sparse, "mutation", "sweep", "other")
    assert done.returncode == 2, done.stderr
    assert "other is outside this checkout's sparse-checkout" in done.stderr, done.stderr
    assert "git sparse-checkout add other" in done.stderr, done.stderr
    assert "no such path" not in done.stderr


def test_a_tracked_file_outside_the_cone_names_its_folder_for_the_cone(sparse: Path) -> None:
    refused = _refusal(sparse, "other/mod.py")
    assert "other/mod.py is outside this checkout's sparse-checkout" in refused.what
    assert refused.fix and "git sparse-checkout add other)" in refused.fix


def test_a_tracked_file_deleted_from_the_work_tree_is_named_as_deleted(sparse: Path) -> None:
    (sparse / "src" / "calc.py").unlink()
    refused = _refusal(sparse, "src/calc.py")
    assert "src/calc.py is tracked by git but missing from the work tree" in refused.what
    assert refused.fix and "git restore -- src/calc.py" in refused.fix


def test_a_path_git_does_not_know_is_still_no_such_path(sparse: Path) -> None:
    refused = _refusal(sparse, "nowhere")
    assert refused.what == "no such path: nowhere"
