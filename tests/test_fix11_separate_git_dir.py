"""A `--separate-git-dir` repository: git lists its git directory as the main work tree (it does
not record where that work tree is). The launcher never sends the user there as if it were a
checkout: run in the work tree itself, that work tree's path (`git rev-parse --show-toplevel`) is
used; run elsewhere, a park says the branch is checked out in the repository's main work tree
and how to recognise it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
from conftest import git
from helpers import launcher_cli

from launcher.git import worktrees
from launcher.git.repo import GitRepo

PLAN = '[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "x"\nscript = [{ write = "a.txt", content = "a\\n" }]\n'


def _separate(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(git dir, its main work tree on main, a linked worktree on branch other)."""
    gitdir, work, linked = tmp_path / "g.git", tmp_path / "wt", tmp_path / "lw"
    git(tmp_path, "init", "-q", "-b", "main", "--separate-git-dir", str(gitdir), str(work))
    (work / "f.txt").write_text("1\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "init")
    git(work, "worktree", "add", "-q", "-b", "other", str(linked))
    return gitdir, work, linked


def _listed(cwd: Path) -> list[worktrees.WorktreeInfo]:
    async def listed() -> list[worktrees.WorktreeInfo]:
        return await worktrees.list_worktrees(await GitRepo.discover(cwd))
    return anyio.run(listed)


def test_the_main_work_tree_is_listed_by_its_own_path_when_the_launcher_runs_there(tmp_path: Path) -> None:
    gitdir, work, linked = _separate(tmp_path)
    from_work = _listed(work)
    assert from_work[0].path == work.resolve() and not from_work[0].unrecorded
    from_linked = _listed(linked)
    assert from_linked[0].unrecorded and worktrees.same_path(from_linked[0].path, gitdir)
    assert "the repository's main work tree (a --separate-git-dir repository" in from_linked[0].said()


def test_a_park_onto_the_main_work_trees_branch_never_calls_the_git_dir_a_worktree(tmp_path: Path) -> None:
    gitdir, work, linked = _separate(tmp_path)
    (tmp_path / "plan.toml").write_text(PLAN)

    done = launcher_cli(linked, "run", str(tmp_path / "plan.toml"), "--into", "main", "--quiet")

    assert done.returncode == 4, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert "main is checked out in the repository's main work tree (a --separate-git-dir repository" in said, said
    assert f"the directory whose .git file points at {gitdir}" in said, said
    assert f"checked out in the worktree {gitdir}" not in said
    integration = git(linked, "branch", "--list", "launcher/*/_integration").strip()
    assert integration  # the advice works where the message says: in the work tree
    merged = subprocess.run(["git", "merge", "--ff-only", integration], cwd=work, capture_output=True, text=True)
    assert merged.returncode == 0, merged.stderr
    assert (work / "a.txt").read_text() == "a\n"
