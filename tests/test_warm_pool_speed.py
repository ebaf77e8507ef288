"""Warm pool, fast path (issue 16 part 5): a pool worktree is taken without a checkout, only if
it is exactly the base; merged worktrees go back to the pool instead of being deleted."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import git, launcher_cli, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport
from launcher.models.states import RunStatus

# The agent records what it found in its worktree (branch, HEAD, everything `git status` sees
# including ignored files, the directory's inode), then writes one file and its contract.
RECORDING_AGENT = (
    "import json, os, pathlib, subprocess, sys\n"
    "tid, record = sys.argv[1], pathlib.Path(sys.argv[2])\n"
    "def git(*a): return subprocess.run(['git', *a], capture_output=True, text=True).stdout.strip()\n"
    "found = {'branch': git('rev-parse', '--abbrev-ref', 'HEAD'), 'head': git('rev-parse', 'HEAD'),\n"
    "         'status': git('status', '--porcelain', '--untracked-files=all', '--ignored'),\n"
    "         'inode': os.stat('.').st_ino}\n"
    "(record / (tid + '.json')).write_text(json.dumps(found))\n"
    "pathlib.Path(tid + '.txt').write_text('written by ' + tid + '\\n')\n"
    "pathlib.Path('build').mkdir(exist_ok=True)\n"
    "pathlib.Path('build', 'cache.o').write_text('an ignored build output\\n')\n"
    "contract = {'contract_version': '1', 'task_id': tid, 'status': 'done', 'summary': 'wrote ' + tid,\n"
    "            'files_changed': [tid + '.txt'], 'tests_added': [], 'decisions': [], 'blockers': [],\n"
    "            'llm_observations': 'recording agent'}\n"
    "pathlib.Path(os.environ['LAUNCHER_CONTRACT']).write_text(json.dumps(contract))\n"
)


def run_recorded(repo: Path, record: Path, ids: list[str], **run: Any) -> RunReport:
    record.mkdir(exist_ok=True)
    agent = {"adapter": "command", "command": [sys.executable, "-c", RECORDING_AGENT, "{task_id}", str(record)]}
    plan = validate_plan({"run": run, "agents": {"rec": agent},
                          "task": [{"id": tid, "agent": "rec", "prompt": f"write {tid}.txt"} for tid in ids]},
                         "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def found_by(record: Path, task_id: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((record / f"{task_id}.json").read_text())
    return found


def pool_trees(repo: Path) -> list[Path]:
    listing = git(repo, "worktree", "list", "--porcelain")
    return [Path(line.split(" ", 1)[1]) for line in listing.splitlines()
            if line.startswith("worktree ") and "/_pool/" in line]


def warm(repo: Path, count: int) -> list[Path]:
    warmed = launcher_cli(repo, "pool", "warm", str(count))
    assert warmed.returncode == 0, warmed.stderr
    return pool_trees(repo)


def test_a_taken_pool_worktree_is_on_the_tasks_branch_at_the_base_and_clean_and_its_commit_lands(
        repo: Path, tmp_path: Path) -> None:
    base = git(repo, "rev-parse", "main").strip()
    [pooled] = warm(repo, 1)
    inode = pooled.stat().st_ino
    record = tmp_path / f"record-{uuid.uuid4().hex}"
    report = run_recorded(repo, record, ["one"])
    assert report.status == RunStatus.SUCCEEDED, task(report, "one").message
    found = found_by(record, "one")
    assert found["inode"] == inode  # the pool's worktree, not a new one
    assert found["branch"] == task(report, "one").branch
    assert found["head"] == base
    assert found["status"] == ""
    assert (repo / "one.txt").read_text() == "written by one\n"
    assert pool_trees(repo) == []
    listed = git(repo, "worktree", "list", "--porcelain")  # git found it where it was moved, and removed it
    assert [line for line in listed.splitlines() if line.startswith("worktree ")] == [f"worktree {repo}"]


@pytest.mark.parametrize("touch", ["untracked", "ignored", "edited", "staged"])
def test_a_pool_worktree_that_was_touched_is_never_handed_out(repo: Path, tmp_path: Path, touch: str) -> None:
    [pooled] = warm(repo, 1)
    if touch == "untracked":
        (pooled / "stray.txt").write_text("left behind\n")
    elif touch == "ignored":
        (pooled / "build").mkdir()
        (pooled / "build" / "stale.o").write_text("left behind\n")
    else:
        (pooled / "app.py").write_text("def add(a, b):\n    return 'tampered'\n")
        if touch == "staged":
            git(pooled, "add", "app.py")
    record = tmp_path / f"record-{uuid.uuid4().hex}"
    report = run_recorded(repo, record, ["one"])
    assert report.status == RunStatus.SUCCEEDED, task(report, "one").message
    found = found_by(record, "one")
    # A fresh worktree instead: nothing of the touch in it (status lists ignored files too). Not
    # told by the directory's inode: the discarded tree's inode number may be reused at once.
    assert found["status"] == ""
    assert found["head"] == git(repo, "rev-parse", "main~1").strip()
    assert not pooled.exists()  # the touched one is gone, not left for the next run
    assert "tampered" not in (repo / "app.py").read_text()


def test_a_pool_worktree_whose_head_moved_is_handed_out_at_the_base(repo: Path, tmp_path: Path) -> None:
    base = git(repo, "rev-parse", "main").strip()
    [pooled] = warm(repo, 1)
    (pooled / "extra.txt").write_text("a commit nobody asked for\n")
    git(pooled, "add", "extra.txt")
    git(pooled, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "stray")
    record = tmp_path / f"record-{uuid.uuid4().hex}"
    report = run_recorded(repo, record, ["one"])
    assert report.status == RunStatus.SUCCEEDED, task(report, "one").message
    found = found_by(record, "one")
    assert found["head"] == base and found["status"] == ""
    assert not (repo / "extra.txt").exists()


def test_a_pool_worktree_already_at_the_base_is_taken_before_one_that_needs_a_checkout(
    repo: Path, tmp_path: Path
) -> None:
    older, at_base = sorted(warm(repo, 2))  # the one listed first stays at the older commit
    (repo / "later.txt").write_text("main moved on after the pool was warmed\n")
    git(repo, "add", "later.txt")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "later")
    base = git(repo, "rev-parse", "main").strip()
    git(at_base, "checkout", "--quiet", "--detach", base)
    record = tmp_path / f"record-{uuid.uuid4().hex}"
    report = run_recorded(repo, record, ["one"])
    assert report.status == RunStatus.SUCCEEDED, task(report, "one").message
    found = found_by(record, "one")
    assert found["head"] == base and found["status"] == ""
    assert found["inode"] != older.stat().st_ino  # the older one stays in the pool
    assert older in pool_trees(repo) and at_base not in pool_trees(repo)


def test_with_warm_pool_set_merged_worktrees_go_back_to_the_pool_at_the_new_tip(repo: Path, tmp_path: Path) -> None:
    record = tmp_path / f"record-{uuid.uuid4().hex}"
    report = run_recorded(repo, record, ["one", "two"], warm_pool=2)
    assert report.status == RunStatus.SUCCEEDED
    tip = git(repo, "rev-parse", "main").strip()
    trees = pool_trees(repo)
    inodes = {t.stat().st_ino for t in trees}
    assert inodes == {found_by(record, tid)["inode"] for tid in ("one", "two")}
    for tree in trees:
        assert git(tree, "rev-parse", "HEAD").strip() == tip
        assert git(tree, "status", "--porcelain", "--untracked-files=all", "--ignored") == ""  # build/ gone
    assert git(repo, "branch", "--list", "launcher/*") == ""

    again = run_recorded(repo, record, ["three"], warm_pool=2)  # the next run takes one of them
    assert again.status == RunStatus.SUCCEEDED
    assert found_by(record, "three")["inode"] in inodes
    assert found_by(record, "three")["head"] == tip


def test_a_pool_worktree_whose_checkout_never_finished_is_not_handed_out(repo: Path, tmp_path: Path) -> None:
    # `pool warm` registers its worktrees, then checks them out in parallel: one whose checkout
    # was cut short (a killed `pool warm`) has no index and is not part of the pool.
    base = git(repo, "rev-parse", "main").strip()
    [pooled] = warm(repo, 1)
    unfilled = pooled.parent / "w-unfilled"
    git(repo, "worktree", "add", "--quiet", "--detach", "--no-checkout", str(unfilled), base)
    record = tmp_path / f"record-{uuid.uuid4().hex}"
    report = run_recorded(repo, record, ["one", "two"])
    assert report.status == RunStatus.SUCCEEDED, [t.message for t in report.tasks]
    for tid in ("one", "two"):
        found = found_by(record, tid)
        assert found["status"] == "" and found["head"] == base  # never an empty tree
        assert found["inode"] != unfilled.stat().st_ino
    assert unfilled.is_dir() and not (unfilled / "app.py").exists()  # left alone, not taken


def test_pool_warm_fills_every_worktree_and_leaves_no_racily_clean_index(repo: Path) -> None:
    trees = warm(repo, 3)
    assert len(trees) == 3
    for tree in trees:
        assert git(tree, "status", "--porcelain", "--untracked-files=all", "--ignored") == ""
        index = Path(git(tree, "rev-parse", "--git-path", "index").strip())
        index = index if index.is_absolute() else tree / index
        newest = max(p.stat().st_mtime for p in tree.rglob("*") if p.is_file() and ".git" not in p.parts)
        # git compares whole seconds: an index written in a later second than every file means
        # no file is "racily clean" (re-read in full by every status and add).
        assert int(index.stat().st_mtime) > int(newest)


def test_settling_a_pool_worktree_that_is_gone_meanwhile_is_no_error(repo: Path) -> None:
    # A run took it (or `clean --all` removed it) between its checkout and the index rewrite.
    from launcher.git import warm_pool
    from launcher.git.repo import GitRepo

    [pooled] = warm(repo, 1)
    git(repo, "worktree", "remove", "--force", str(pooled))

    async def settle() -> None:
        await warm_pool._settle_indexes(await GitRepo.discover(repo), [pooled])

    anyio.run(settle)  # before: SpawnNotFound (no such directory) as a traceback of `pool warm`
