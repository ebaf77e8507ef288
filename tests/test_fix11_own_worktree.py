"""A worktree is the launcher's by what the launcher owns -- the mark its `git worktree add`
leaves in the worktree's admin dir, a `launcher/<run>/...` branch, or (made before the mark) a
folder of its own layout -- never because it lies under a `worktree_root` the user configured,
which may be the very folder where they keep their own worktrees (`worktree_root =
"../worktrees"`). The user's `git worktree add ../worktrees/hotfix` is theirs: every command works
there, with its own journal; the launcher's trees beside it are still refused, naming the main
checkout."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli

MADE_HERE = "this checkout is a worktree the launcher made"


def _configured(repo: Path, root: str = "../worktrees") -> None:
    (repo / "launcher.toml").write_text(f'worktree_root = "{root}"\n')
    git(repo, "add", "launcher.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "worktree root")


def _plan(tmp_path: Path, checks: list[str]) -> Path:
    plan = {"task": [{"id": "t1", "script": [{"write": "a.txt", "content": "a\n"},
                                             {"contract": {"files_changed": ["a.txt"]}}], "checks": checks}]}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def test_the_users_own_worktree_under_the_worktree_root_is_theirs(repo: Path, tmp_path: Path) -> None:
    _configured(repo)
    hotfix = repo.parent / "worktrees" / "hotfix"
    git(repo, "worktree", "add", "-q", "-b", "hotfix", str(hotfix))

    status = launcher_cli(hotfix, "status")
    assert MADE_HERE not in status.stderr and "no runs yet" in status.stdout + status.stderr, status.stderr

    ran = launcher_cli(hotfix, "run", str(_plan(tmp_path, [])), "--quiet")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert git(hotfix, "show", "hotfix:a.txt") == "a\n"  # landed on the user's branch, checked out there
    assert (hotfix / ".launcher" / "launcher.db").is_file()  # its own journal, as any checkout of theirs


def test_the_launchers_own_trees_under_that_root_are_still_refused(repo: Path, tmp_path: Path) -> None:
    _configured(repo)
    ran = launcher_cli(repo, "run", str(_plan(tmp_path, ["false"])), "--json", "--quiet")
    assert ran.returncode == 1, ran.stdout + ran.stderr  # the check fails: the task's worktree is kept
    run_id = json.loads(ran.stdout)["run_id"]
    task_tree = Path(launcher_cli(repo, "path", run_id, "t1").stdout.strip())
    assert repo.parent / "worktrees" in task_tree.resolve().parents
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    (pooled,) = (repo.parent / "worktrees" / "_pool").iterdir()

    for tree in (task_tree, pooled):
        done = launcher_cli(tree, "status")
        assert done.returncode == 2 and MADE_HERE in done.stderr and str(repo) in done.stderr, (tree, done.stderr)
        assert not (tree / ".launcher").exists()


def test_a_launcher_tree_is_known_by_its_mark_wherever_it_lies(repo: Path) -> None:
    """A warm-pool tree made while the root was elsewhere, the root since configured anew: its
    place says nothing any more, the mark of the launcher's `git worktree add` does."""
    _configured(repo, "../old-root")
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    (pooled,) = (repo.parent / "old-root" / "_pool").iterdir()
    _configured(repo, "../new-root")

    done = launcher_cli(pooled, "status")
    assert done.returncode == 2 and MADE_HERE in done.stderr, done.stderr


def test_an_older_launchers_unmarked_tree_is_known_by_the_launchers_layout(repo: Path) -> None:
    _configured(repo)
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    (pooled,) = (repo.parent / "worktrees" / "_pool").iterdir()
    admin = Path(git(pooled, "rev-parse", "--absolute-git-dir").strip())
    (admin / "launcher-added.json").unlink()  # as a launcher made it before the mark existed

    done = launcher_cli(pooled, "status")
    assert done.returncode == 2 and MADE_HERE in done.stderr, done.stderr
