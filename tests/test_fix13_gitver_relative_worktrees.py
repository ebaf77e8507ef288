"""Linked worktrees registered with relative paths (git 2.48+: `worktree.useRelativePaths`, or
`git worktree add --relative-paths`): `<common>/worktrees/<id>/gitdir` then names the worktree's
`.git` relative to that admin dir (`../../../../wt/.git`), and the worktree's `.git` file names
its admin dir relative to itself. The launcher reads those files as git does, never relative to
its own current directory. And a user's `worktree.useRelativePaths=true` does not make the
launcher's own `git worktree add` turn on `extensions.relativeWorktrees` in the shared config,
which the run's git-dir watch took for an agent's change ("another agent changed the
repository's shared git directory") and put back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import git, launcher_cli

from launcher.app.run.other_runs import _checkouts
from launcher.git.registered import registered_worktree
from launcher.git.repo import GitRepo
from launcher.git.target_tree import busy_with


def _relative_worktree(repo: Path, tree: Path) -> Path:
    """A linked worktree whose two link files are relative, as git 2.48+ writes them."""
    git(repo, "worktree", "add", "-q", "-b", "feature", str(tree))
    admin = repo / ".git" / "worktrees" / tree.name
    (admin / "gitdir").write_text(os.path.relpath(tree / ".git", admin) + "\n")
    (tree / ".git").write_text(f"gitdir: {os.path.relpath(admin, tree)}\n")
    return admin


def test_a_relative_registration_names_the_worktree_itself(repo: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "elsewhere" / "wt"
    admin = _relative_worktree(repo, tree)
    monkeypatch.chdir(tmp_path)  # anywhere but the admin dir

    assert registered_worktree(admin) == tree.resolve()
    assert tree.resolve() in [path.resolve() for path in _checkouts(repo / ".git")]


def test_a_branch_rebased_in_a_relative_worktree_is_named_with_its_worktrees_path(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "elsewhere" / "wt"
    _relative_worktree(repo, tree)
    git(tree, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "f")
    git(tree, "-c", "sequence.editor=sed -i 1ibreak", "rebase", "-q", "-i", "main")  # stops at once
    monkeypatch.chdir(tmp_path)

    said = busy_with(GitRepo(repo, repo / ".git"), "refs/heads/feature")

    assert said == f"feature is being rebased in the worktree {tree.resolve()}"


def test_a_users_relative_worktrees_setting_changes_nothing_in_the_shared_config(repo: Path, tmp_path: Path) -> None:
    config = tmp_path / "global.gitconfig"
    config.write_text("[worktree]\n\tuseRelativePaths = true\n")
    (repo / "plan.toml").write_text(
        '[agents.sh]\nadapter = "command"\n'
        'command = ["sh", "-c", "echo $LAUNCHER_TASK_ID > $LAUNCHER_TASK_ID.txt", "{prompt}"]\n'
        '[[task]]\nid = "t1"\nagent = "sh"\nprompt = "x"\n[[task]]\nid = "t2"\nagent = "sh"\nprompt = "y"\n'
    )
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")
    config_before = (repo / ".git" / "config").read_bytes()

    done = launcher_cli(repo, "run", "plan.toml", "--quiet", env={"GIT_CONFIG_GLOBAL": str(config)})

    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert (repo / "t1.txt").exists() and (repo / "t2.txt").exists()
    assert "shared git directory" not in said
    assert (repo / ".git" / "config").read_bytes() == config_before
