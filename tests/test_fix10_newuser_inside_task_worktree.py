"""Commands run inside one of the launcher's own worktrees (README: `cd "$(launcher path RUN
TASK)"`) say where they are and name the main checkout, where the run's journal is; they never
say "there are no runs yet", never suggest starting a run there, and create nothing there. A
linked worktree of the user's own still keeps its own journal (README, "Where things are")."""

from __future__ import annotations

from pathlib import Path

from helpers import failed_task_worktree, git, launcher_cli


def test_status_and_logs_in_a_task_worktree_name_the_main_checkout(repo: Path) -> None:
    run_id, worktree = failed_task_worktree(repo)

    for args in (["status"], ["logs", run_id, "t1"], ["runs"]):
        done = launcher_cli(worktree, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert (f"this checkout is a worktree the launcher made for task 't1' of run {run_id} "
                f"(branch launcher/{run_id}/t1): the runs and their journal are in the main checkout {repo}") \
            in done.stderr
        assert f"Fix: run launcher commands from the main checkout: cd {repo} && launcher status {run_id}" \
            in done.stderr
        assert "no runs yet" not in done.stderr + done.stdout
        assert "launcher run PLAN" not in done.stderr
    assert not (worktree / ".launcher").exists()
    assert git(worktree, "status", "--porcelain") == ""
    in_main = launcher_cli(repo, "status", run_id)  # the main checkout still knows the run
    assert in_main.returncode == 0 and run_id in in_main.stdout, in_main.stderr


def test_a_subdirectory_of_a_task_worktree_is_recognised_too(repo: Path) -> None:
    _run_id, worktree = failed_task_worktree(repo)
    (worktree / "sub").mkdir()

    done = launcher_cli(worktree / "sub", "status")

    assert done.returncode == 2, done.stderr
    assert f"are in the main checkout {repo}" in done.stderr
    assert not (worktree / ".launcher").exists() and not (worktree / "sub" / ".launcher").exists()


def test_a_warm_pool_worktree_is_recognised_by_where_it_lies(repo: Path) -> None:
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    listed = git(repo, "worktree", "list", "--porcelain").split("\n\n")
    (pooled,) = [Path(block.split("\n")[0].removeprefix("worktree ")) for block in listed
                 if "detached" in block]

    done = launcher_cli(pooled, "status")

    assert done.returncode == 2, done.stderr
    said = "this checkout is a worktree the launcher made: the runs and their journal are in the main checkout"
    assert f"{said} {repo}" in done.stderr
    assert not (pooled / ".launcher").exists()


def test_a_linked_worktree_of_the_users_own_keeps_its_own_journal(repo: Path, tmp_path: Path) -> None:
    mine = tmp_path / "feature"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(mine))

    done = launcher_cli(mine, "status")

    assert "this checkout is a worktree the launcher made" not in done.stderr
    assert "no runs yet" in done.stdout + done.stderr
