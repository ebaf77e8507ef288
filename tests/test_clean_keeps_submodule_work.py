"""A plain `launcher clean --all` never deletes what an agent did inside a submodule: its
uncommitted edits there exist only in the worktree, also when `.gitmodules` tells `git status`
to ignore the submodule. Such a worktree is kept and named with how to save the work; `--force` removes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, launcher_cli, run_plan, task, with_submodule

from launcher.models.states import TaskState


@pytest.fixture
def superproject(tmp_path: Path) -> Path:
    """A repository on main with one submodule `vendor/lib`, cloned in the main checkout."""
    return with_submodule(tmp_path)


def test_uncommitted_submodule_edits_survive_a_plain_clean_despite_ignore_dirty(superproject: Path) -> None:
    git(superproject, "config", "-f", ".gitmodules", "submodule.vendor/lib.ignore", "dirty")
    git(superproject, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "ignore dirty")
    report = run_plan(superproject, [{
        "id": "edits-lib", "agent": "scripted", "prompt": "edit the library in place",
        "script": [{"append": "vendor/lib/lib.txt", "content": "precious\n"},
                   {"write": "app.txt", "content": "app 2\n"},
                   {"contract": {"files_changed": ["app.txt", "vendor/lib/lib.txt"]}}],
    }])
    edits = task(report, "edits-lib")
    assert edits.state == TaskState.FAILED and edits.worktree
    tree = Path(edits.worktree)

    cleaned = launcher_cli(superproject, "clean", "--all")

    assert cleaned.returncode == 0, cleaned.stderr
    assert (tree / "vendor/lib/lib.txt").read_text() == "LIB VERSION 1\nprecious\n"
    assert f"kept worktree {tree}: it holds uncommitted work: vendor/lib" in cleaned.stdout
    forced = launcher_cli(superproject, "clean", "--all", "--force")
    assert forced.returncode == 0, forced.stderr
    assert not tree.exists()
