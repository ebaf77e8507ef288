"""Many worktrees are removed fast: moved aside under the repository lock, deleted after it.

Deleting a tree's files is the cost of removing it, and `remove_worktrees` did it under the
repository lock, 4 trees at a time (64 trees of 5,000 files on a disk: a minute, 3-7x a script
running `git worktree remove` 64 at once). Each tree is now renamed into `_removing/` and
unregistered under the lock; the files are deleted once the lock is released, many trees at
once, before `remove_worktrees` returns: nothing is said removed while its files are there."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from helpers import git

from launcher.git import tree_trash, worktrees
from launcher.git.repo import GitRepo


def _trees(repo: Path, tmp_path: Path, count: int) -> list[tuple[Path, str | None]]:
    root = tmp_path / "trees" / "r-1"
    items: list[tuple[Path, str | None]] = []
    for i in range(count):
        path, branch = root / f"t{i}", f"launcher/r-1/t{i}"
        git(repo, "worktree", "add", "-q", "-b", branch, str(path))
        (path / "untracked.txt").write_text("work\n")
        items.append((path, branch))
    git(repo, "worktree", "lock", str(items[0][0]))  # a locked one too (an agent's, while it runs)
    return items


def test_the_trees_their_registrations_and_branches_are_gone_and_nothing_is_left_aside(
        repo: Path, tmp_path: Path) -> None:
    items = _trees(repo, tmp_path, 6)
    left: list[str] = []

    async def remove() -> dict[str, Path]:
        return await worktrees.remove_worktrees(await GitRepo.discover(repo), items, left)

    assert anyio.run(remove) == {}
    assert left == []
    assert not (tmp_path / "trees" / "r-1").exists()  # the trees, `_removing/` and the run's folder
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(repo, "branch", "--list", "launcher/*") == ""
    assert not (repo / ".git" / "worktrees").exists() or not any((repo / ".git" / "worktrees").iterdir())


def test_the_files_are_deleted_after_the_repository_lock_is_released(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = _trees(repo, tmp_path, 4)
    log = tmp_path / "rm.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lock = repo / ".git" / "launcher.lock"
    # `rm` as the launcher runs it: notes whether another process could take the repository lock
    # now (a shared `flock -n`: the launcher holds it exclusively).
    (bin_dir / "rm").write_text(
        "#!/bin/sh\n"
        f"if flock -n -s {lock} true; then echo free >> {log}; else echo held >> {log}; fi\n"
        'exec /bin/rm "$@"\n')
    (bin_dir / "rm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path('/usr/bin')}:{Path('/bin')}")

    async def remove() -> None:
        await worktrees.remove_worktrees(await GitRepo.discover(repo), items)

    anyio.run(remove)
    assert log.read_text().split() == ["free"] * 4  # one `rm` per tree, none under the lock
    assert not (tmp_path / "trees" / "r-1").exists()


def test_a_tree_that_cannot_be_moved_aside_is_removed_by_git_as_before(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = _trees(repo, tmp_path, 2)
    monkeypatch.setattr(tree_trash, "move_aside", lambda _tree: None)  # another file system, say

    async def remove() -> None:
        await worktrees.remove_worktrees(await GitRepo.discover(repo), items)

    anyio.run(remove)
    assert not (tmp_path / "trees" / "r-1").exists()
    assert git(repo, "branch", "--list", "launcher/*") == ""
