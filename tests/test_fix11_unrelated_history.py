"""Work built on a base commit can only land on a target that shares history with it. A target
with none (an orphan branch; in a shallow clone that fetched each branch's tip, any branch whose
history stops before the base) is refused before anything is created, agents run or bundles are
fetched: exit 2, naming the shallow clone and how to deepen it. A target replaced by an unrelated
history after the run started fails that task at landing, its branch kept, and `status
--exit-status` says what the command's exit said."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import git
from helpers import launcher_cli

PLAN = '[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "x"\nscript = [{ write = "a.txt", content = "a\\n" }]\n'


def _repo(root: Path) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "f.txt").write_text("1\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


def _orphan(root: Path, branch: str) -> None:
    """`branch` made a root commit of its own (a gh-pages branch), main checked out again."""
    git(root, "checkout", "-q", "--orphan", "scratch")
    git(root, "rm", "-rqf", ".")
    (root / "index.html").write_text("pages\n")
    git(root, "add", "index.html")
    git(root, "commit", "-qm", "pages")
    git(root, "branch", "-f", branch, "scratch")
    git(root, "checkout", "-q", "main")
    git(root, "branch", "-qD", "scratch")


def _nothing_created(root: Path) -> None:
    assert git(root, "branch", "--list", "launcher/*") == ""
    assert len(git(root, "worktree", "list").splitlines()) == 1


def test_run_into_an_orphan_branch_is_refused_before_any_agent_runs(tmp_path: Path) -> None:
    root = _repo(tmp_path / "repo")
    _orphan(root, "pages")
    (tmp_path / "plan.toml").write_text(PLAN)

    done = launcher_cli(root, "run", str(tmp_path / "plan.toml"), "--into", "pages", "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "branch 'pages' shares no history with the base" in done.stderr, done.stderr
    assert "orphan branch" in done.stderr and "nothing was created and no agent ran" in done.stderr
    _nothing_created(root)


def test_run_into_another_branch_of_a_shallow_clone_names_the_shallow_history(tmp_path: Path) -> None:
    src = _repo(tmp_path / "src")
    git(src, "branch", "release")
    git(src, "commit", "-q", "--allow-empty", "-m", "next")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-single-branch", f"file://{src}", str(clone))
    git(clone, "branch", "-q", "release", "origin/release")
    (tmp_path / "plan.toml").write_text(PLAN)

    done = launcher_cli(clone, "run", str(tmp_path / "plan.toml"), "--into", "release", "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "this clone is shallow" in done.stderr and "git fetch --unshallow" in done.stderr, done.stderr
    assert "fetch-depth: 0" in done.stderr
    _nothing_created(clone)


def test_land_from_in_a_shallow_clone_that_does_not_reach_the_base_is_refused_before_fetching(tmp_path: Path) -> None:
    src = _repo(tmp_path / "src")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(src), str(origin))
    git(origin, "branch", "release")  # keeps the base commit in every clone of every branch
    (tmp_path / "plan.toml").write_text(PLAN)
    shard = tmp_path / "shard"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(shard))
    ran = launcher_cli(shard, "run", str(tmp_path / "plan.toml"), "--shard", "1/1", "--no-merge",
                       "--export", str(tmp_path / "ex"), "--quiet")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    git(src, "commit", "-q", "--allow-empty", "-m", "main moves on")
    git(src, "push", "-q", str(origin), "main")
    land = tmp_path / "land"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-single-branch", f"file://{origin}", str(land))

    done = launcher_cli(land, "land", "--from", str(tmp_path / "ex"), "--plan", str(tmp_path / "plan.toml"))

    assert done.returncode == 2, done.stdout + done.stderr
    assert "this clone is shallow" in done.stderr and "stops before the exports' base commit" in done.stderr
    assert "git fetch --unshallow" in done.stderr and "nothing was fetched or landed" in done.stderr
    _nothing_created(land)
    assert json.loads(launcher_cli(land, "runs", "--json").stdout) == []  # no run journaled


def test_a_target_replaced_by_an_unrelated_history_fails_the_task_at_landing_and_status_agrees(
    tmp_path: Path,
) -> None:
    root = _repo(tmp_path / "repo")
    git(root, "branch", "pages")
    (tmp_path / "plan.toml").write_text(PLAN)
    ran = launcher_cli(root, "run", str(tmp_path / "plan.toml"), "--into", "pages", "--no-merge", "--quiet")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    _orphan(root, "pages")  # after the run: the branch was replaced by a history of its own

    landed = launcher_cli(root, "land", "--json")

    report = json.loads(landed.stdout)
    t1 = next(t for t in report["tasks"] if t["id"] == "t1")
    assert t1["state"] == "failed", t1
    assert "shares no history with the target" in t1["message"], t1["message"]
    assert "check that both commits exist" not in landed.stdout + landed.stderr
    assert landed.returncode == 1
    assert launcher_cli(root, "status", "--exit-status").returncode == 1
    assert git(root, "branch", "--list", "launcher/*/t1").strip()  # the work is kept
