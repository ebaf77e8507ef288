"""Submodules: a task's worktree, its checks and the integration check see the submodules the
main checkout has cloned (from those local clones, without touching the shared config); a task
that moves a submodule's commit is failed with its branch kept, never landed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import git, run_plan, task, with_submodule

from launcher.models.states import RunStatus, TaskState


@pytest.fixture
def superproject(tmp_path: Path) -> Path:
    """A repository on main with one submodule `vendor/lib` (cloned, as `git clone
    --recurse-submodules` leaves it), whose upstream is a local repository."""
    return with_submodule(tmp_path)


def _config_digest(root: Path) -> str:
    return hashlib.sha256((root / ".git" / "config").read_bytes()).hexdigest()


def test_the_agent_its_checks_and_the_integration_check_see_the_submodule(superproject: Path) -> None:
    config_before = _config_digest(superproject)
    report = run_plan(superproject, [{
        "id": "reads-lib", "agent": "scripted", "prompt": "copy the library's version",
        "script": [{"run": ["sh", "-c", "cp vendor/lib/lib.txt seen.txt"]},
                   {"contract": {"files_changed": ["seen.txt"]}}],
        "checks": ["grep -q 'LIB VERSION 1' vendor/lib/lib.txt"],
    }], integration_check="test -f vendor/lib/lib.txt && test -f seen.txt")
    assert report.status == RunStatus.SUCCEEDED, task(report, "reads-lib").message
    assert (superproject / "seen.txt").read_text() == "LIB VERSION 1\n"
    assert git(superproject, "show", "main:seen.txt") == "LIB VERSION 1\n"
    assert report.queue.check_runs == 1
    # The URL was given per command: the shared config, which runs guard, is as it was.
    assert _config_digest(superproject) == config_before
    assert git(superproject, "status", "--porcelain") == ""


def test_a_task_that_moves_a_submodule_commit_fails_and_keeps_its_branch(superproject: Path) -> None:
    base = git(superproject, "rev-parse", "main").strip()
    report = run_plan(superproject, [{
        "id": "bumps-lib", "agent": "scripted", "prompt": "change the library",
        "script": [{"run": ["sh", "-c", "cd vendor/lib && echo 'LIB VERSION 2' > lib.txt && "
                           "git -c user.name=a -c user.email=a@a commit -qam 'lib 2'"]},
                   {"write": "app.txt", "content": "app 2\n"},
                   {"contract": {"files_changed": ["app.txt", "vendor/lib"]}}],
    }])
    bumped = task(report, "bumps-lib")
    assert bumped.state == TaskState.FAILED
    assert "changed the commit of submodule vendor/lib" in bumped.message
    assert git(superproject, "rev-parse", "main").strip() == base  # nothing landed
    # The agent's work is on its kept branch: the app change and the new submodule pointer.
    changed = git(superproject, "diff", "--name-only", base, bumped.branch).split()
    assert changed == ["app.txt", "vendor/lib"]


def test_a_submodule_the_main_checkout_never_cloned_stays_empty_and_the_run_goes_on(
        superproject: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain-clone"
    git(tmp_path, "clone", "-q", str(superproject), str(plain))  # no --recurse-submodules
    report = run_plan(plain, [{
        "id": "looks", "agent": "scripted", "prompt": "note what is there",
        "script": [{"run": ["sh", "-c", "ls -A vendor/lib | wc -l > count.txt"]},
                   {"contract": {"files_changed": ["count.txt"]}}],
    }])
    assert report.status == RunStatus.SUCCEEDED, task(report, "looks").message
    assert (plain / "count.txt").read_text().strip() == "0"


def test_with_a_warm_pool_the_taken_worktree_gets_the_submodule_and_nothing_is_left_over(
        superproject: Path) -> None:
    report = run_plan(superproject, [{
        "id": f"reads-{n}", "agent": "scripted", "prompt": "copy the library's version",
        "script": [{"run": ["sh", "-c", f"cp vendor/lib/lib.txt seen-{n}.txt"]},
                   {"contract": {"files_changed": [f"seen-{n}.txt"]}}],
    } for n in (1, 2)], warm_pool=2)
    assert report.status == RunStatus.SUCCEEDED, [t.message for t in report.tasks]
    assert (superproject / "seen-2.txt").read_text() == "LIB VERSION 1\n"
    listing = git(superproject, "worktree", "list", "--porcelain")
    trees = [line.split(" ", 1)[1] for line in listing.splitlines() if line.startswith("worktree ")]
    assert len(trees) == 3 and all("/_pool/" in tree for tree in trees[1:]), listing
    tip = git(superproject, "rev-parse", "main").strip()
    for tree in map(Path, trees[1:]):  # ready for the next run: at the new tip, nothing in them
        assert git(tree, "rev-parse", "HEAD").strip() == tip
        assert git(tree, "status", "--porcelain", "--ignored") == ""


def test_an_uncommitted_edit_inside_a_submodule_fails_the_task_instead_of_vanishing(superproject: Path) -> None:
    report = run_plan(superproject, [{
        "id": "edits-lib", "agent": "scripted", "prompt": "edit the library in place",
        "script": [{"append": "vendor/lib/lib.txt", "content": "more\n"},
                   {"write": "app.txt", "content": "app 2\n"},
                   {"contract": {"files_changed": ["app.txt", "vendor/lib/lib.txt"]}}],
    }])
    edits = task(report, "edits-lib")
    assert edits.state == TaskState.FAILED
    assert "inside submodule vendor/lib without committing" in edits.message
    assert edits.worktree and Path(edits.worktree, "vendor/lib/lib.txt").read_text() == "LIB VERSION 1\nmore\n"


def test_an_uncommitted_edit_inside_a_submodule_as_the_only_change_is_named_as_such(superproject: Path) -> None:
    report = run_plan(superproject, [{
        "id": "edits-lib", "agent": "scripted", "prompt": "edit the library in place, nothing else",
        "script": [{"append": "vendor/lib/lib.txt", "content": "more\n"},
                   {"contract": {"files_changed": ["vendor/lib/lib.txt"]}}],
    }])
    edits = task(report, "edits-lib")
    assert edits.state == TaskState.FAILED
    assert edits.message.startswith("changed files inside submodule vendor/lib without committing them there")
    assert "git commit" not in edits.message
    assert edits.worktree and Path(edits.worktree, "vendor/lib/lib.txt").read_text() == "LIB VERSION 1\nmore\n"


def test_files_written_into_a_submodule_the_main_checkout_never_initialised_fail_the_task_and_stay(
        superproject: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain-clone"
    git(tmp_path, "clone", "-q", str(superproject), str(plain))  # no --recurse-submodules
    base = git(plain, "rev-parse", "main").strip()
    report = run_plan(plain, [{
        "id": "writes-lib", "agent": "scripted", "prompt": "add a file to the (empty) library",
        "script": [{"write": "vendor/lib/new.txt", "content": "agent work\n"},
                   {"write": "vendor/lib/deeper/more.txt", "content": "more work\n"},
                   {"write": "app.txt", "content": "app 2\n"},
                   {"contract": {"files_changed": ["app.txt", "vendor/lib/new.txt"]}}],
    }])
    writes = task(report, "writes-lib")
    assert writes.state == TaskState.FAILED and not writes.merged
    assert "wrote vendor/lib/deeper/more.txt, vendor/lib/new.txt inside the directory of a submodule " \
           "that is not initialised" in writes.message
    assert git(plain, "rev-parse", "main").strip() == base  # nothing landed, not even app.txt
    # Kept for the user: the worktree with the files git cannot see, the branch with the rest.
    assert writes.worktree and Path(writes.worktree, "vendor/lib/new.txt").read_text() == "agent work\n"
    assert git(plain, "diff", "--name-only", base, writes.branch).split() == ["app.txt"]


def test_the_users_uncommitted_edit_inside_a_submodule_does_not_park_the_landing(superproject: Path) -> None:
    # The user works on the vendored library: `git stash` here could not put it aside, and
    # landing (read-tree) leaves the submodule's files alone, as `git merge` does.
    (superproject / "vendor" / "lib" / "lib.txt").write_text("LIB VERSION 1, being edited\n")
    report = run_plan(superproject, [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}])
    assert report.status == RunStatus.SUCCEEDED, report.message
    assert git(superproject, "show", "main:a.txt") == "a\n" and (superproject / "a.txt").exists()
    assert (superproject / "vendor" / "lib" / "lib.txt").read_text() == "LIB VERSION 1, being edited\n"


def test_a_park_for_local_changes_names_them(superproject: Path) -> None:
    (superproject / "app.txt").write_text("app, edited\n")
    report = run_plan(superproject, [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}])
    assert report.status == RunStatus.PARKED
    assert "the main work tree has local changes (app.txt)" in report.message, report.message
