"""Reading a worktree's HEAD commit without a git process, and knowing when to ask git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
from helpers import git

from launcher.git import commits
from launcher.git.repo import GitRepo


def _read(repo: Path, tree: Path) -> tuple[str | None, str | None]:
    async def main() -> tuple[str | None, str | None]:
        found = await GitRepo.discover(repo)
        return commits.loose_head(found, tree), await commits.head_or_none(found, tree)
    return anyio.run(main)


def test_a_branch_a_detached_head_and_a_packed_ref(tmp_path: Path) -> None:
    repo, tree = tmp_path / "repo", tmp_path / "tree"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "base")
    git(repo, "worktree", "add", "-q", "-b", "task", str(tree))
    head = git(repo, "rev-parse", "main").strip()
    assert _read(repo, tree) == (head, head)  # on its branch, a loose ref

    git(tree, "checkout", "-q", "--detach")
    assert _read(repo, tree) == (head, head)  # detached: the id in HEAD itself

    git(tree, "checkout", "-q", "task")
    git(repo, "pack-refs", "--all")  # no loose file any more: git is asked
    assert _read(repo, tree) == (None, head)

    git(tree, "checkout", "-q", "--orphan", "unborn")  # a branch with no commit
    assert _read(repo, tree) == (None, None)
