"""A repository whose main checkout is a sparse checkout (`git sparse-checkout set src`): the task
worktrees inherit its cone, and git itself copies the per-worktree config that says so into each
new worktree. A run there works like anywhere else: git's own writes are not an agent's, and
whatever an agent writes, inside the cone or outside it, lands or fails its task, never vanishes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git
from helpers import run_plan, task

from launcher.models.states import RunStatus, TaskState


@pytest.fixture
def sparse(tmp_path: Path) -> Path:
    """A repository on main with src/ and docs/, checked out sparsely: only src/ is on disk."""
    root = tmp_path / "sparse"
    (root / "src").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "src" / "a.txt").write_text("a\n")
    (root / "docs" / "d.txt").write_text("original\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "src and docs")
    git(root, "sparse-checkout", "set", "src")
    assert not (root / "docs").exists()
    return root


def _config_worktree_files(root: Path) -> dict[str, str]:
    admin = root / ".git" / "worktrees"
    return {d.name: (d / "config.worktree").read_text() for d in admin.iterdir()
            if (d / "config.worktree").is_file()} if admin.is_dir() else {}


def test_a_single_task_in_a_sparse_checkout_is_not_blamed_for_the_config_git_writes_for_its_worktree(
        sparse: Path) -> None:
    report = run_plan(sparse, [{
        "id": "innocent", "agent": "scripted", "prompt": "add a source file",
        "script": [{"write": "src/b.txt", "content": "b\n"}, {"contract": {"files_changed": ["src/b.txt"]}}],
    }])
    innocent = task(report, "innocent")
    assert report.status == RunStatus.SUCCEEDED, innocent.message
    assert innocent.merged and "shared git directory" not in innocent.message
    assert git(sparse, "show", "main:src/b.txt") == "b\n"


def test_an_agent_that_changes_its_worktrees_config_in_a_sparse_checkout_is_still_failed_and_undone(
        sparse: Path) -> None:
    report = run_plan(sparse, [{
        "id": "meddles", "agent": "scripted", "prompt": "turn the sparse checkout off for itself",
        "script": [{"run": ["git", "config", "--worktree", "core.sparseCheckout", "false"]},
                   {"write": "src/b.txt", "content": "b\n"},
                   {"contract": {"files_changed": ["src/b.txt"]}}],
    }])
    meddles = task(report, "meddles")
    assert meddles.state == TaskState.FAILED
    assert "changed the repository's shared git directory" in meddles.message
    assert "config.worktree changed" in meddles.message
    # Put back as git wrote it when the worktree was added: a copy of the main checkout's.
    main_config = (sparse / ".git" / "config.worktree").read_text()
    assert list(_config_worktree_files(sparse).values()) == [main_config]


def test_an_edit_outside_the_sparse_cone_lands_with_the_new_files_beside_it(sparse: Path) -> None:
    report = run_plan(sparse, [{
        "id": "other", "agent": "scripted", "prompt": "add a source file",
        "script": [{"write": "src/o.txt", "content": "o\n"}, {"contract": {"files_changed": ["src/o.txt"]}}],
    }, {
        "id": "docs", "agent": "scripted", "prompt": "edit the docs, which the checkout leaves out",
        "script": [{"write": "docs/d.txt", "content": "CHANGED BY THE AGENT\n"},
                   {"write": "docs/new.md", "content": "new\n"},
                   {"contract": {"files_changed": ["docs/d.txt", "docs/new.md"]}}],
    }])
    docs = task(report, "docs")
    assert report.status == RunStatus.SUCCEEDED, docs.message
    assert sorted(docs.files) == ["docs/d.txt", "docs/new.md"]
    assert git(sparse, "show", "main:docs/d.txt") == "CHANGED BY THE AGENT\n"
    assert git(sparse, "show", "main:docs/new.md") == "new\n"
    # The main checkout stays sparse and clean: the landed docs are in it, not on its disk.
    assert git(sparse, "status", "--porcelain") == ""
    assert not (sparse / "docs").exists()


def test_a_file_outside_the_cone_that_the_agent_did_not_write_is_not_taken_for_a_deletion(
        sparse: Path) -> None:
    report = run_plan(sparse, [{
        "id": "src-only", "agent": "scripted", "prompt": "add a source file",
        "script": [{"write": "src/b.txt", "content": "b\n"}, {"contract": {"files_changed": ["src/b.txt"]}}],
    }])
    assert report.status == RunStatus.SUCCEEDED, task(report, "src-only").message
    assert task(report, "src-only").files == ["src/b.txt"]
    assert git(sparse, "show", "main:docs/d.txt") == "original\n"


def test_an_edit_outside_the_cone_lands_even_where_git_keeps_skipping_files_on_disk(sparse: Path) -> None:
    # With this setting git leaves the skip-worktree bit of a file that appears on disk as it is,
    # and `git add -A` (even `--sparse`) passes over the file: only clearing the bit takes it in.
    git(sparse, "config", "sparse.expectFilesOutsideOfPatterns", "true")
    report = run_plan(sparse, [{
        "id": "docs", "agent": "scripted", "prompt": "edit the docs, which the checkout leaves out",
        "script": [{"write": "docs/d.txt", "content": "CHANGED BY THE AGENT\n"},
                   {"contract": {"files_changed": ["docs/d.txt"]}}],
    }])
    docs = task(report, "docs")
    assert report.status == RunStatus.SUCCEEDED, docs.message
    assert docs.files == ["docs/d.txt"]
    assert git(sparse, "show", "main:docs/d.txt") == "CHANGED BY THE AGENT\n"


def test_with_a_warm_pool_a_taken_worktree_is_not_blamed_for_gits_config_either(sparse: Path) -> None:
    for n in (1, 2):  # the first run fills the pool; the second takes from it
        report = run_plan(sparse, [{
            "id": f"adds-{n}", "agent": "scripted", "prompt": "add a source file",
            "script": [{"write": f"src/{n}.txt", "content": f"{n}\n"},
                       {"contract": {"files_changed": [f"src/{n}.txt"]}}],
        }], warm_pool=1)
        assert report.status == RunStatus.SUCCEEDED, task(report, f"adds-{n}").message
    assert git(sparse, "show", "main:src/2.txt") == "2\n"
