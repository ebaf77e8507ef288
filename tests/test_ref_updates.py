"""Deleting many refs with one git process, and what happens when one of them cannot go."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
from helpers import git

from launcher.git import ref_updates
from launcher.git.repo import GitRepo


def _refs(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/launcher/").split()


def _repo_with_refs(tmp_path: Path, names: list[str]) -> Path:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "commit", "-q", "--allow-empty", "-m", "base")
    for name in names:
        git(repo, "update-ref", name, "HEAD")
    return repo


def _delete(repo: Path, refs: list[str]) -> list[str]:
    async def main() -> list[str]:
        found = await GitRepo.discover(repo)
        async with found.lock.hold():
            return await ref_updates.delete_refs(found, refs)
    return anyio.run(main)


def test_all_refs_go_in_one_git_process(tmp_path: Path) -> None:
    names = [f"refs/launcher/r-1/t{n}/idle-head" for n in range(5)]
    repo = _repo_with_refs(tmp_path, [*names, "refs/launcher/r-1/other"])
    assert _delete(repo, [*names, "refs/launcher/r-1/t9/missing"]) == []
    assert _refs(repo) == ["refs/launcher/r-1/other"]  # only what was named went


def test_a_locked_ref_stays_and_is_named_the_others_go(tmp_path: Path) -> None:
    names = [f"refs/launcher/r-1/t{n}/idle-head" for n in range(3)]
    repo = _repo_with_refs(tmp_path, names)
    lock = repo / ".git" / "refs" / "launcher" / "r-1" / "t1" / "idle-head.lock"
    lock.write_text("")  # another git process holds it
    assert _delete(repo, names) == [names[1]]
    assert _refs(repo) == [names[1]]
