"""Warm pool: nothing a previous task (or a stray process) left in a worktree reaches the next
task that takes it from the pool. Index flags, special files, a stale `index.lock` and the
sparse-checkout state are what `git status` and `git clean -ffdx` do not see."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
from helpers import git, launcher_cli, run_shell, task

from launcher.app.run import pool
from launcher.git import warm_pool, worktrees
from launcher.git.repo import GitRepo
from launcher.models.states import RunStatus, TaskState


def pool_trees(repo: Path) -> list[Path]:
    listing = git(repo, "worktree", "list", "--porcelain")
    return [Path(line.split(" ", 1)[1]) for line in listing.splitlines()
            if line.startswith("worktree ") and "/_pool/" in line]


def committed(repo: Path, rev_path: str) -> str:
    return git(repo, "show", rev_path)



def recycle(repo: Path, tree: Path) -> list[Path]:
    """Put a finished task's worktree back in the pool, as a run with `[run] warm_pool` does."""
    async def go() -> list[Path]:
        found = await GitRepo.discover(repo)
        root = worktrees.default_worktree_root(found, None)
        tip = git(repo, "rev-parse", "main").strip()
        return await warm_pool.recycle(found, root, [tree], tip, 1, pool.special_files)
    return anyio.run(go)


# What the agent finds: index entries not plainly cached (`git ls-files -v` tags other than H).
SEES_FLAGS = "git ls-files -v | grep -v '^H ' > {record}; echo NEW-WORK > README.md"


def test_a_recycled_worktree_keeps_no_index_flag_of_the_task_that_used_it(repo: Path, tmp_path: Path) -> None:
    tree = tmp_path / "finished-task"
    git(repo, "worktree", "add", "-q", "--detach", str(tree), "main")
    (tree / "README.md").write_text("hidden edit\n")
    git(tree, "update-index", "--assume-unchanged", "README.md")
    git(tree, "update-index", "--skip-worktree", "app.py")
    assert recycle(repo, tree) == [tree]
    [pooled] = pool_trees(repo)
    assert git(pooled, "ls-files", "-v").splitlines() == ["H .gitignore", "H README.md", "H app.py"]
    assert (pooled / "README.md").read_text() == "# sample\n"

    record = tmp_path / "seen.txt"
    report = run_shell(repo, SEES_FLAGS.format(record=record), "t")
    assert report.status == RunStatus.SUCCEEDED, task(report, "t").message
    assert task(report, "t").state == TaskState.MERGED
    assert record.read_text() == ""
    assert committed(repo, "main:README.md") == "NEW-WORK\n"


def test_a_pool_worktree_with_an_index_flag_set_by_hand_is_never_handed_out(repo: Path, tmp_path: Path) -> None:
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    [pooled] = pool_trees(repo)
    git(pooled, "update-index", "--assume-unchanged", "README.md")
    inode = pooled.stat().st_ino
    record = tmp_path / "seen.txt"
    report = run_shell(repo, SEES_FLAGS.format(record=record) + "; stat -c %i . >> " + str(record), "t")
    assert report.status == RunStatus.SUCCEEDED, task(report, "t").message
    assert record.read_text().split() != [str(inode)]  # a fresh worktree, not the pool's
    assert record.read_text().strip().isdigit()  # and with no flag in its index
    assert committed(repo, "main:README.md") == "NEW-WORK\n"


def test_an_agent_that_marks_its_edited_file_assume_unchanged_still_has_the_edit_committed(repo: Path) -> None:
    report = run_shell(repo, "echo edited > README.md; git update-index --assume-unchanged README.md; "
                       "echo more >> app.py", "t")
    assert report.status == RunStatus.SUCCEEDED, task(report, "t").message
    assert committed(repo, "main:README.md") == "edited\n"


# A dev server's socket and a FIFO, left behind in the worktree.
LEAVES_SPECIAL_FILES = ("mkfifo left.fifo; "
                        "python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"app.sock\")'; "
                        "echo one >> app.py")


def test_a_fifo_and_a_socket_a_task_left_do_not_reach_the_next_task_that_takes_its_worktree(
        repo: Path, tmp_path: Path) -> None:
    first = run_shell(repo, LEAVES_SPECIAL_FILES, "one", warm_pool=1)
    assert first.status == RunStatus.SUCCEEDED, task(first, "one").message
    [recycled] = pool_trees(repo)
    assert sorted(entry.name for entry in recycled.iterdir()) == [".git", ".gitignore", "README.md", "app.py"]

    record = tmp_path / "seen.txt"
    second = run_shell(repo, f"ls -A > {record}; echo two > two.txt", "two")
    assert second.status == RunStatus.SUCCEEDED, task(second, "two").message
    assert not {"left.fifo", "app.sock"} & set(record.read_text().split())


def test_a_pool_worktree_holding_a_fifo_is_never_handed_out(repo: Path, tmp_path: Path) -> None:
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    [pooled] = pool_trees(repo)
    os.mkfifo(pooled / "left.fifo")
    record = tmp_path / "seen.txt"
    report = run_shell(repo, f"ls -A > {record}; echo two > two.txt", "t")
    assert report.status == RunStatus.SUCCEEDED, task(report, "t").message
    assert "left.fifo" not in record.read_text().split()


def test_a_pool_worktree_with_a_stale_index_lock_is_never_handed_out(repo: Path) -> None:
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    [pooled] = pool_trees(repo)
    Path(git(pooled, "rev-parse", "--absolute-git-dir").strip(), "index.lock").touch()  # a git process died there
    report = run_shell(repo, "echo work > README.md", "t")
    assert report.status == RunStatus.SUCCEEDED, task(report, "t").message
    assert task(report, "t").state == TaskState.MERGED
    assert committed(repo, "main:README.md") == "work\n"
    assert not pooled.exists() and pool_trees(repo) == []  # removed, and not replaced: no warm_pool set


def sparse_repo(repo: Path) -> None:
    (repo / "src").mkdir()
    (repo / "src" / "s.txt").write_text("s\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "d.md").write_text("d\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "src and docs")


SEES_DOCS = ("if [ -e docs/d.md ]; then echo full; else echo sparse; fi > {record}; "
             "stat -c %i . >> {record}; echo x >> src/s.txt")


def test_a_task_gets_the_main_checkouts_current_sparse_state_not_the_one_the_pool_was_warmed_with(
        repo: Path, tmp_path: Path) -> None:
    sparse_repo(repo)
    git(repo, "sparse-checkout", "set", "--cone", "src")
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    git(repo, "sparse-checkout", "disable")  # main is full again
    record = tmp_path / "seen-full.txt"
    report = run_shell(repo, SEES_DOCS.format(record=record), "full")
    assert report.status == RunStatus.SUCCEEDED, task(report, "full").message
    assert record.read_text().split()[0] == "full"

    assert launcher_cli(repo, "clean", "--all", "--force").returncode == 0
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0  # warmed full
    git(repo, "sparse-checkout", "set", "--cone", "src")
    record = tmp_path / "seen-sparse.txt"
    report = run_shell(repo, SEES_DOCS.format(record=record), "sparse")
    assert report.status == RunStatus.SUCCEEDED, task(report, "sparse").message
    assert record.read_text().split()[0] == "sparse"


def test_a_pool_worktree_warmed_with_the_main_checkouts_cone_is_taken(repo: Path, tmp_path: Path) -> None:
    sparse_repo(repo)
    git(repo, "sparse-checkout", "set", "--cone", "src")
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    [pooled] = pool_trees(repo)
    inode = pooled.stat().st_ino
    record = tmp_path / "seen.txt"
    report = run_shell(repo, SEES_DOCS.format(record=record), "t")
    assert report.status == RunStatus.SUCCEEDED, task(report, "t").message
    assert record.read_text().split() == ["sparse", str(inode)]


def test_a_hidden_edit_under_a_flag_in_a_pool_worktree_never_reaches_the_next_tasks_commit(repo: Path) -> None:
    # Another task's agent edits a file in an idle pool worktree, hides the edit with
    # assume-unchanged and leaves a file claiming the index is as the pool left it: the take
    # trusts no such claim, lists the flags itself and refuses the worktree.
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    [pooled] = pool_trees(repo)
    with (pooled / "README.md").open("a") as readme:
        readme.write("PLANTED\n")
    git(pooled, "update-index", "--assume-unchanged", "README.md")
    admin = Path(git(pooled, "rev-parse", "--absolute-git-dir").strip())
    (admin / "launcher-pool-stamp").write_text("forged")
    report = run_shell(repo, "echo mine > mine.txt", "t")
    assert report.status == RunStatus.SUCCEEDED, task(report, "t").message
    assert committed(repo, "main:README.md") == "# sample\n"
    assert "PLANTED" not in git(repo, "log", "-p", "main")


def test_a_fifo_and_files_under_a_dot_git_directory_a_task_left_do_not_reach_the_next_task(
        repo: Path, tmp_path: Path) -> None:
    # git never lists nor cleans a path through a directory named `.git`: recycling removes it.
    left = "mkdir -p sub/.git; mkfifo sub/.git/ff; echo left > sub/.git/payload; echo one >> app.py"
    first = run_shell(repo, left, "one", warm_pool=1)
    assert first.status == RunStatus.SUCCEEDED, task(first, "one").message
    record = tmp_path / "seen.txt"
    second = run_shell(repo, f"ls -A sub > {record} 2>&1; echo two > two.txt", "two")
    assert second.status == RunStatus.SUCCEEDED, task(second, "two").message
    assert ".git" not in record.read_text()
