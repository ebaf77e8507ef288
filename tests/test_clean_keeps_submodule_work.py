"""A plain `launcher clean --all` never deletes what an agent did inside a submodule: its
commits there exist only in the task worktree's own submodule git dir, and its uncommitted
edits there only in the worktree, also when `.gitmodules` tells `git status` to ignore the
submodule. Such a worktree is kept and named with how to save the work; `--force` removes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, launcher_cli, run_plan, task, with_submodule

from launcher.models.states import TaskState


@pytest.fixture
def superproject(tmp_path: Path) -> Path:
    """A repository on main with one submodule `vendor/lib`, cloned in the main checkout."""
    return with_submodule(tmp_path)


def _commit_exists(git_dir: Path, commit: str) -> bool:
    try:
        git(git_dir, "cat-file", "-e", f"{commit}^{{commit}}")
    except Exception:
        return False
    return True


def test_commits_an_agent_made_inside_a_submodule_survive_a_plain_clean(superproject: Path) -> None:
    report = run_plan(superproject, [{
        "id": "bumps-lib", "agent": "scripted", "prompt": "change the library",
        "script": [{"run": ["sh", "-c", "cd vendor/lib && echo 'LIB VERSION 2' > lib.txt && "
                           "git -c user.name=a -c user.email=a@a commit -qam 'lib 2'"]},
                   {"contract": {"files_changed": ["vendor/lib"]}}],
    }])
    bumped = task(report, "bumps-lib")
    assert bumped.state == TaskState.FAILED and bumped.worktree and bumped.branch
    tree = Path(bumped.worktree)
    # The kept branch points at a submodule commit that only the worktree has.
    pointer = git(superproject, "ls-tree", bumped.branch, "vendor/lib").split()[2]
    user_clone = superproject / ".git" / "modules" / "vendor" / "lib"
    assert not _commit_exists(user_clone, pointer)

    cleaned = launcher_cli(superproject, "clean", "--all")

    assert cleaned.returncode == 0, cleaned.stderr
    assert tree.is_dir() and (tree / "vendor/lib/lib.txt").read_text() == "LIB VERSION 2\n"
    assert f"kept worktree {tree}: its submodule vendor/lib holds 1 commit(s) that exist only there " \
           f"({pointer[:12]})" in cleaned.stdout
    assert "launcher clean --force" in cleaned.stdout
    # Following the advice saves the commit in the user's submodule; then clean removes the tree.
    git(tree / "vendor/lib", "push", "-q", str(superproject / "vendor/lib"), f"{pointer}:refs/heads/saved")
    assert _commit_exists(user_clone, pointer)
    again = launcher_cli(superproject, "clean", "--all")
    assert again.returncode == 0, again.stderr
    assert not tree.exists(), again.stdout


def test_a_worktree_whose_submodule_holds_nothing_new_is_removed(superproject: Path) -> None:
    report = run_plan(superproject, [{
        "id": "edits-app", "agent": "scripted", "prompt": "edit the app",
        "script": [{"write": "app.txt", "content": "app 2\n"},
                   {"contract": {"files_changed": ["app.txt"]}}],
        "checks": ["false"],
    }])
    failed = task(report, "edits-app")
    assert failed.state == TaskState.FAILED and failed.worktree
    tree = Path(failed.worktree)
    assert (tree / "vendor/lib/lib.txt").is_file()  # checked out there, at the recorded commit

    cleaned = launcher_cli(superproject, "clean", "--all")

    assert cleaned.returncode == 0, cleaned.stderr
    assert "kept worktree" not in cleaned.stdout
    assert not tree.exists()


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
