"""Concurrency with the user and with other launchers (review 16).

1. The main checkout follows the target only while it has the target checked out: a user who
   switches it to another branch during the landing keeps that branch as it was (index and
   files), and the report says the checkout was not updated instead of "the main work tree was
   updated".
2. Two `launcher pool warm N` at once keep N worktrees: the worktrees another launcher is still
   checking out count as the pool's.
3. A best-of attempt is known by what the plan says (`select_from`), never by the shape of its id:
   a user's own task named `api.attempt-1` beside `api` is a task like any other for `launcher
   runs`, and a plan whose task id is also a best-of task's attempt id is refused, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from helpers import git, git_on_path, launcher_cli, start_launcher

from launcher.errors import PlanError
from launcher.models.plan import load_plan


def _plan(tmp_path: Path) -> Path:
    """A task that adds a file and changes a committed one."""
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"task": [{"id": "t1", "script": [
        {"write": "added.txt", "content": "landed\n"},
        {"replace": "app.py", "old": "a + b", "new": "b + a"},
    ]}]}))
    return path


def _user_switches_at(tmp_path: Path, repo: Path, when: str) -> dict[str, str]:
    """PATH whose `git` runs the user's own `git switch other` in the main checkout (once) right
    before the launcher's git command whose arguments contain `when`."""
    switch = (f'env -u GIT_INDEX_FILE -u GIT_DIR -u GIT_WORK_TREE "$REAL_GIT" -C {repo} '
              "-c core.hooksPath=/dev/null switch -q other")
    return git_on_path(tmp_path, f'case " $* " in *"{when}"*)\n'
                                 f'  if [ ! -e {tmp_path}/switched ]; then touch {tmp_path}/switched; {switch}; fi;;\n'
                                 "esac")


def _assert_other_untouched(repo: Path) -> None:
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "other"
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (repo / "added.txt").exists()
    assert "a + b" in (repo / "app.py").read_text()


def _assert_landed_on_main(repo: Path) -> None:
    assert git(repo, "show", "main:added.txt") == "landed\n"
    assert "b + a" in git(repo, "show", "main:app.py")


def test_a_switch_to_another_branch_before_the_update_leaves_that_branch_alone(repo: Path, tmp_path: Path) -> None:
    git(repo, "branch", "other")
    env = _user_switches_at(tmp_path, repo, "launcher: land")  # right before main moves
    ran = launcher_cli(repo, "run", str(_plan(tmp_path)), "--quiet", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    _assert_landed_on_main(repo)
    _assert_other_untouched(repo)
    assert "the main work tree was updated" not in ran.stdout
    assert "is on the branch other, not main (switched during the landing), so it was not updated" in ran.stdout
    assert "`git switch main` there brings the landed work into it" in ran.stdout


def test_a_switch_just_before_the_read_tree_has_its_write_taken_back(repo: Path, tmp_path: Path) -> None:
    # The switch lands between the launcher's last look at HEAD and its read-tree: the read-tree
    # writes onto `other`, the look after it sees that, and exactly that write is taken back.
    git(repo, "branch", "other")
    (repo / "mine.txt").write_text("the user's own untracked file\n")
    env = _user_switches_at(tmp_path, repo, " read-tree -m -u ")
    ran = launcher_cli(repo, "run", str(_plan(tmp_path)), "--quiet", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    _assert_landed_on_main(repo)
    assert (repo / "mine.txt").read_text() == "the user's own untracked file\n"
    (repo / "mine.txt").unlink()  # (kept; out of the way of the status check below)
    _assert_other_untouched(repo)
    assert "the main work tree was updated" not in ran.stdout
    assert "The update had already been written onto it; what it had written was removed" in ran.stdout


def _git_killing_launcher_at_read_tree(tmp_path: Path) -> dict[str, str]:
    real = shutil.which("git")
    assert real
    bin_dir = tmp_path / "killer-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\ncase " $* " in *" read-tree -m -u "*) kill -9 $PPID; exit 1;; esac\n'
                       f'exec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_resume_finishing_an_interrupted_landing_leaves_a_switched_checkout_alone(
    repo: Path, tmp_path: Path
) -> None:
    git(repo, "branch", "other")
    killed = launcher_cli(repo, "run", str(_plan(tmp_path)), "--quiet",
                          env=_git_killing_launcher_at_read_tree(tmp_path))
    assert killed.returncode == -9, killed.stdout + killed.stderr
    _assert_landed_on_main(repo)  # main moved, the checkout's index and files did not follow
    (run_id,) = sqlite3.connect(repo / ".launcher" / "launcher.db").execute("SELECT id FROM runs").fetchone()
    resumed = launcher_cli(repo, "resume", str(run_id), "--json",
                           env=_user_switches_at(tmp_path, repo, " read-tree -m -u "))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert [t["state"] for t in report["tasks"]] == ["merged"]
    _assert_other_untouched(repo)
    assert "is on the branch other, not main" in resumed.stdout
    assert "finished updating the main work tree" not in resumed.stdout


def _pool_worktrees(repo: Path) -> list[str]:
    return [line for line in git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ") and "/_pool/" in line]


def test_two_pool_warms_at_once_keep_the_pool_at_its_size(repo: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    held = git_on_path(tmp_path, 'case " $* " in *" read-tree --reset "*)\n'
                                 f'  i=0; while [ ! -e {release} ] && [ $i -lt 999 ]; do sleep .05; i=$((i+1)); done\n'
                                 "  ;;\n"
                                 "esac")  # the first warm's checkouts wait until the second has finished
    first = start_launcher(repo, "pool", "warm", "2", env=held)
    try:
        deadline = time.monotonic() + 60
        while len(_pool_worktrees(repo)) < 2:  # registered, still being checked out
            assert time.monotonic() < deadline and first.poll() is None, "the first warm registered none"
            time.sleep(0.05)
        second = launcher_cli(repo, "pool", "warm", "2")
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.strip() == (
            "warm pool: 0 worktree(s) ready (0 new, 2 more being checked out by another launcher)")
    finally:
        release.touch()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert out.strip() == "warm pool: 2 worktree(s) ready (2 new)"
    assert len(_pool_worktrees(repo)) == 2


def test_runs_counts_a_users_task_named_like_an_attempt(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [
        {"id": "api", "agent": "scripted", "prompt": "x", "script": [{"write": "api.txt", "content": "a\n"}]},
        {"id": "api.attempt-1", "agent": "scripted", "prompt": "y",
         "script": [{"write": "other.txt", "content": "o\n"}]},
    ]}))
    ran = launcher_cli(repo, "run", str(plan), "--quiet", "--no-merge")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    listed = launcher_cli(repo, "runs")
    assert listed.returncode == 0, listed.stderr
    assert " 2 task(s) " in listed.stdout, listed.stdout


def test_a_task_id_that_is_also_an_attempt_id_is_refused_naming_the_best_of_task(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text('[[task]]\nid = "api"\nprompt = "x"\nattempts = 2\n'
                    '[[task]]\nid = "api.attempt-2"\nprompt = "y"\n')
    with pytest.raises(PlanError) as refused:
        load_plan(plan)
    said = str(refused.value)
    assert "task id 'api.attempt-2' is also the id of attempt 2 of the best-of-2 task 'api'" in said
    assert "used twice" not in said
    assert "rename task 'api.attempt-2'" in said
