"""`launcher clean --all --force` removes everything a run made under the cache, down to the
repository's own `<repo>-<hash8>/` directory of worktrees once it is empty; a `worktree_root`
set in launcher.toml is the user's directory and stays."""

from __future__ import annotations

from pathlib import Path

from helpers import git, launcher_cli


def test_clean_all_force_leaves_no_empty_directory_of_the_repository_under_the_cache(
    repo: Path, tmp_path: Path
) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    ran = launcher_cli(repo, "run", "--task", "write a.txt", "--agent", "scripted", "--no-merge", env=env)
    assert ran.returncode in (0, 1), ran.stdout + ran.stderr
    worktrees = tmp_path / "cache" / "launcher" / "worktrees"
    assert [p.name for p in worktrees.iterdir()] != []  # the run made its worktrees there
    cleaned = launcher_cli(repo, "clean", "--all", "--force", env=env)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert list(worktrees.iterdir()) == [], list(worktrees.iterdir())
    assert git(repo, "branch", "--list", "launcher/*") == ""


def test_clean_all_force_keeps_a_configured_worktree_root(repo: Path, tmp_path: Path) -> None:
    mine = tmp_path / "my-worktrees"
    (repo / "launcher.toml").write_text(f'worktree_root = "{mine}"\n')
    ran = launcher_cli(repo, "run", "--task", "write a.txt", "--agent", "scripted", "--no-merge")
    assert ran.returncode in (0, 1), ran.stdout + ran.stderr
    cleaned = launcher_cli(repo, "clean", "--all", "--force")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert mine.is_dir() and list(mine.iterdir()) == []
