"""A worktree root inside the repository (`worktree_root = "wt"`): the launcher's worktrees are
kept out of git as `.launcher/` is (in `.git/info/exclude`), so `git status` stays clean and the
README's `git add -A && git commit` never takes them in as embedded repositories. A root that holds
files git tracks is refused (exit 2, nothing created): excluding it would hide the user's files."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, launcher_cli, swept_project

_PLAN = '[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "x"\nscript = [{ write = "a.txt", content = "a\\n" }]\n'


def _setup(repo: Path, config: str) -> None:
    (repo / "launcher.toml").write_text(config)
    (repo / "p.toml").write_text(_PLAN)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "config")


def _nothing_created(repo: Path) -> None:
    assert not (repo / ".launcher").exists()
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_kept_task_worktree_under_a_root_in_the_checkout_is_not_seen_by_git(repo: Path) -> None:
    _setup(repo, 'worktree_root = "wt"\n')

    done = launcher_cli(repo, "run", "p.toml", "--no-merge")

    assert done.returncode == 0, done.stderr
    assert list((repo / "wt").glob("r-*/t1")), "the task's worktree is kept under wt/"
    assert git(repo, "status", "--porcelain") == ""
    git(repo, "add", "-A")  # what README's `git add -A && git commit` does next
    assert git(repo, "diff", "--cached", "--name-only") == ""
    assert "/wt/" in (repo / ".git" / "info" / "exclude").read_text().splitlines()


def test_pool_worktrees_under_a_root_in_the_checkout_are_not_seen_by_git(repo: Path) -> None:
    _setup(repo, 'worktree_root = "wt"\n')

    done = launcher_cli(repo, "pool", "warm", "1")

    assert done.returncode == 0, done.stderr
    assert git(repo, "status", "--porcelain") == ""


def test_a_cache_directory_in_the_checkout_is_kept_out_of_git_too(repo: Path) -> None:
    _setup(repo, "")

    done = launcher_cli(repo, "run", "p.toml", "--no-merge", env={"XDG_CACHE_HOME": str(repo / ".cache")})

    assert done.returncode == 0, done.stderr
    assert git(repo, "status", "--porcelain") == ""


def test_a_root_that_holds_tracked_files_is_refused_before_anything_is_made(repo: Path) -> None:
    (repo / "src").mkdir()
    (repo / "src" / "lib.py").write_text("x = 1\n")
    _setup(repo, 'worktree_root = "src"\n')

    done = launcher_cli(repo, "run", "p.toml")

    assert done.returncode == 2, done.stderr
    assert f"error: worktree_root: the worktree root {repo / 'src'} lies in the repository's checkout and " \
        "holds files git tracks (src/lib.py)" in done.stderr
    assert "set worktree_root in launcher.toml to a directory outside the repository" in done.stderr
    _nothing_created(repo)
    assert "/src/" not in (repo / ".git" / "info" / "exclude").read_text().splitlines()


def test_the_checkout_itself_is_refused_as_a_worktree_root(repo: Path) -> None:
    _setup(repo, 'worktree_root = "."\n')

    done = launcher_cli(repo, "run", "p.toml")

    assert done.returncode == 2, done.stderr
    assert "is the repository's checkout itself" in done.stderr
    _nothing_created(repo)


def test_worktrees_committed_by_an_earlier_launcher_get_the_way_out(repo: Path) -> None:
    # What `git add -A` did before: a task worktree committed as an embedded repository.
    kept = repo / "wt" / "r-1" / "t1"
    kept.mkdir(parents=True)
    git(kept, "init", "-q")
    git(kept, "commit", "-q", "--allow-empty", "-m", "agent work")
    _setup(repo, 'worktree_root = "wt"\n')

    done = launcher_cli(repo, "run", "p.toml")

    assert done.returncode == 2, done.stderr
    assert "holds files git tracks (wt/r-1/t1)" in done.stderr
    assert "`git rm -r --cached -- wt` and a commit" in done.stderr
    _nothing_created(repo)


def test_a_mutation_sweep_keeps_a_root_in_the_checkout_out_of_git_too(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from test_interrupts9_mutation_fix import PROJECT

    root = swept_project(tmp_path / "proj", {**PROJECT, "launcher.toml": 'worktree_root = "wt"\n'},
                         ["calc/core.py"])
    assert "/wt/" in (root / ".git" / "info" / "exclude").read_text().splitlines()
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
