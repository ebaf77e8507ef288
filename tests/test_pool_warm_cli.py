"""`launcher pool warm` follows the exit-code table as `launcher run` does: a `--base` that is not a
commit is a usage error (2), a repository with no commit yet an environment problem (3)."""

from __future__ import annotations

from pathlib import Path

from helpers import git, launcher_cli


def test_pool_warm_with_a_base_that_is_not_a_commit_is_a_usage_error(repo: Path) -> None:
    warmed = launcher_cli(repo, "pool", "warm", "1", "--base", "nope")
    assert warmed.returncode == 2, warmed.stderr
    assert "--base: 'nope' is not a commit" in warmed.stderr
    assert len(git(repo, "worktree", "list").splitlines()) == 1  # no worktree was made


def test_pool_warm_in_a_repository_with_no_commit_says_to_make_one(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    warmed = launcher_cli(empty, "pool", "warm", "1")
    assert warmed.returncode == 3, warmed.stderr
    assert "no commit yet" in warmed.stderr and "make a first commit" in warmed.stderr
