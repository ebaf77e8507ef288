"""A plain `launcher clean --all` never deletes what an agent did inside a submodule: its
commits there exist only in the task worktree's own submodule git dir, and its uncommitted
edits there only in the worktree, also when `.gitmodules` tells `git status` to ignore the
submodule. Such a worktree is kept and named with how to save the work; `--force` removes it."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from helpers import git, launcher_cli, run_plan, task, with_submodule

from launcher.git import submodules
from launcher.git.repo import GitRepo
from launcher.git.unsaved_work import unsaved_work
from launcher.models.report import RunReport
from launcher.models.states import TaskState


@pytest.fixture
def superproject(tmp_path: Path) -> Path:
    """A repository on main with one submodule `vendor/lib`, cloned in the main checkout."""
    return with_submodule(tmp_path)


def _commit_exists(git_dir: Path, commit: str) -> bool:
    try:
        git(git_dir, "cat-file", "-e", f"{commit}^{{commit}}")
    except Exception:
        return False
    return True


def _commit_inside_the_submodule(superproject: Path) -> RunReport:
    """A task whose agent commits inside `vendor/lib`: it fails (the branch cannot carry it)."""
    return run_plan(superproject, [{
        "id": "bumps-lib", "agent": "scripted", "prompt": "change the library",
        "script": [{"run": ["sh", "-c", "cd vendor/lib && echo 'LIB VERSION 2' > lib.txt && "
                           "git -c user.name=a -c user.email=a@a commit -qam 'lib 2'"]},
                   {"contract": {"files_changed": ["vendor/lib"]}}],
    }])


def test_commits_an_agent_made_inside_a_submodule_survive_a_plain_clean(superproject: Path) -> None:
    report = _commit_inside_the_submodule(superproject)
    bumped = task(report, "bumps-lib")
    assert bumped.state == TaskState.FAILED and bumped.worktree and bumped.branch
    tree = Path(bumped.worktree)
    # The kept branch points at a submodule commit that only the worktree has.
    pointer = git(superproject, "ls-tree", bumped.branch, "vendor/lib").split()[2]
    user_clone = superproject / ".git" / "modules" / "vendor" / "lib"
    assert not _commit_exists(user_clone, pointer)

    cleaned = launcher_cli(superproject, "clean", "--all")

    assert cleaned.returncode == 0, cleaned.stderr
    assert tree.is_dir() and (tree / "vendor/lib/lib.txt").read_text() == "LIB VERSION 2\n"
    assert f"kept worktree {tree}: its submodule vendor/lib holds 1 commit(s) that exist only there " \
           f"({pointer[:12]})" in cleaned.stdout
    assert "launcher clean --force" in cleaned.stdout
    # Following the advice saves the commit in the user's submodule; then clean removes the tree.
    git(tree / "vendor/lib", "push", "-q", str(superproject / "vendor/lib"), f"{pointer}:refs/heads/saved")
    assert _commit_exists(user_clone, pointer)
    again = launcher_cli(superproject, "clean", "--all")
    assert again.returncode == 0, again.stderr
    assert not tree.exists(), again.stdout


def test_a_worktree_whose_submodule_holds_nothing_new_is_removed(superproject: Path) -> None:
    report = run_plan(superproject, [{
        "id": "edits-app", "agent": "scripted", "prompt": "edit the app",
        "script": [{"write": "app.txt", "content": "app 2\n"},
                   {"contract": {"files_changed": ["app.txt"]}}],
        "checks": ["false"],
    }])
    failed = task(report, "edits-app")
    assert failed.state == TaskState.FAILED and failed.worktree
    tree = Path(failed.worktree)
    assert (tree / "vendor/lib/lib.txt").is_file()  # checked out there, at the recorded commit

    cleaned = launcher_cli(superproject, "clean", "--all")

    assert cleaned.returncode == 0, cleaned.stderr
    assert "kept worktree" not in cleaned.stdout
    assert not tree.exists()


def test_uncommitted_submodule_edits_survive_a_plain_clean_despite_ignore_dirty(superproject: Path) -> None:
    git(superproject, "config", "-f", ".gitmodules", "submodule.vendor/lib.ignore", "dirty")
    git(superproject, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "ignore dirty")
    report = run_plan(superproject, [{
        "id": "edits-lib", "agent": "scripted", "prompt": "edit the library in place",
        "script": [{"append": "vendor/lib/lib.txt", "content": "precious\n"},
                   {"write": "app.txt", "content": "app 2\n"},
                   {"contract": {"files_changed": ["app.txt", "vendor/lib/lib.txt"]}}],
    }])
    edits = task(report, "edits-lib")
    assert edits.state == TaskState.FAILED and edits.worktree
    tree = Path(edits.worktree)

    cleaned = launcher_cli(superproject, "clean", "--all")

    assert cleaned.returncode == 0, cleaned.stderr
    assert (tree / "vendor/lib/lib.txt").read_text() == "LIB VERSION 1\nprecious\n"
    assert f"kept worktree {tree}: it holds uncommitted work: vendor/lib" in cleaned.stdout
    forced = launcher_cli(superproject, "clean", "--all", "--force")
    assert forced.returncode == 0, forced.stderr
    assert not tree.exists()


def _move_submodule_far_ahead(superproject: Path, commits: int = 60) -> str:
    """The usual way to update a submodule: upstream gains `commits` commits, the user checks
    out the fetched one inside it and commits the pointer. The clone's own branch `main` stays
    where it was cloned: every new commit is only on its remote-tracking ref and detached HEAD."""
    upstream = superproject.parent / "lib-upstream"
    for number in range(commits):
        (upstream / "lib.txt").write_text(f"LIB VERSION {number + 2}\n")
        git(upstream, "-c", "user.name=u", "-c", "user.email=u@u", "commit", "-qam", f"lib {number + 2}")
    lib = superproject / "vendor" / "lib"
    git(lib, "fetch", "-q", "origin")
    git(lib, "checkout", "-q", "origin/main")
    git(superproject, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "lib moved on")
    return git(lib, "rev-parse", "HEAD").strip()


def test_a_submodule_far_past_its_clones_branch_holds_nothing_only_there(superproject: Path) -> None:
    _move_submodule_far_ahead(superproject)
    report = run_plan(superproject, [{
        "id": "edits-app", "agent": "scripted", "prompt": "edit the app",
        "script": [{"write": "app.txt", "content": "app 2\n"},
                   {"contract": {"files_changed": ["app.txt"]}}],
        "checks": ["false"],
    }])
    failed = task(report, "edits-app")
    assert failed.state == TaskState.FAILED and failed.worktree
    tree = Path(failed.worktree)

    cleaned = launcher_cli(superproject, "clean", "--all")

    assert cleaned.returncode == 0, cleaned.stderr
    assert "exist only there" not in cleaned.stdout and "kept worktree" not in cleaned.stdout, cleaned.stdout
    assert not tree.exists()


def test_commits_on_top_of_a_far_moved_submodule_are_counted_exactly_and_a_cut_short_check_says_so(
    superproject: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _move_submodule_far_ahead(superproject)
    commit = "git -c user.name=a -c user.email=a@a commit -qam"
    report = run_plan(superproject, [{
        "id": "bumps-lib", "agent": "scripted", "prompt": "change the library",
        "script": [{"run": ["sh", "-c", f"cd vendor/lib && echo A > lib.txt && {commit} A && "
                           f"echo B > lib.txt && {commit} B"]},
                   {"contract": {"files_changed": ["vendor/lib"]}}],
    }])
    bumped = task(report, "bumps-lib")
    assert bumped.state == TaskState.FAILED and bumped.worktree
    tree = Path(bumped.worktree)
    newest = git(tree / "vendor/lib", "rev-parse", "HEAD").strip()

    cleaned = launcher_cli(superproject, "clean", "--all")

    assert cleaned.returncode == 0, cleaned.stderr
    assert f"its submodule vendor/lib holds 2 commit(s) that exist only there ({newest[:12]}, " in cleaned.stdout
    assert tree.is_dir()

    # A check that had to stop early keeps the tree too, claiming no number.
    monkeypatch.setattr(submodules, "_CANDIDATES", 1)

    async def why() -> str | None:
        return await unsaved_work(await GitRepo.discover(superproject), tree)

    said = anyio.run(why) or ""
    assert "could not check whether its submodule vendor/lib holds commits that exist only there" in said, said
    assert "it stopped after looking up 1 of its commits" in said and "commit(s)" not in said


def test_a_retry_never_removes_a_failed_tasks_commits_inside_a_submodule(superproject: Path) -> None:
    report = _commit_inside_the_submodule(superproject)
    bumped = task(report, "bumps-lib")
    assert bumped.state == TaskState.FAILED and bumped.worktree
    tree = Path(bumped.worktree)
    pointer = git(superproject, "ls-tree", bumped.branch or "", "vendor/lib").split()[2]

    retried = launcher_cli(superproject, "resume", report.run_id, "--retry-failed", "--json", "--quiet")

    assert retried.returncode != 0  # the task is still failed: it was not run again
    assert tree.is_dir() and (tree / "vendor/lib/lib.txt").read_text() == "LIB VERSION 2\n"
    assert _commit_exists(tree / "vendor/lib", pointer)
    assert f"not retried: its worktree {tree} has work no commit holds: its submodule vendor/lib holds 1 " \
           f"commit(s) that exist only there ({pointer[:12]})" in retried.stdout, retried.stdout
