"""Scale-out (issue 16 parts 4 and 5): warm worktrees, cheap copies, one plan across a CI matrix."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, launcher_cli, run_plan, task

from launcher.git import cow_copy
from launcher.models.states import RunStatus


def edit(path: str, old: str, new: str) -> dict[str, str]:
    return {"replace": path, "old": old, "new": new}


def pool_trees(repo: Path) -> list[str]:
    listing = git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in listing.splitlines()
            if line.startswith("worktree ") and "/_pool/" in line]


# --- part 5: cheap copies ----------------------------------------------------------------

def test_copy_on_write_copy_keeps_content_and_mode(tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(bytes(range(256)) * 4096 + b"tail")
    src.chmod(0o750)
    dest = tmp_path / "copy.bin"
    how = cow_copy.copy_file(src, dest)
    assert how in {"clone", "copy_file_range", "plain"}
    assert dest.read_bytes() == src.read_bytes()
    assert dest.stat().st_mode & 0o777 == 0o750


def test_copy_falls_back_to_a_plain_copy_when_the_file_system_cannot_share(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(*_args: object) -> int:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(cow_copy.fcntl, "ioctl", unsupported)
    monkeypatch.setattr(cow_copy.os, "copy_file_range", unsupported, raising=False)
    src = tmp_path / "node_modules.tar"
    src.write_bytes(b"x" * 300_000)
    dest = tmp_path / "copy.tar"
    assert cow_copy.copy_file(src, dest) == "plain"
    assert dest.read_bytes() == src.read_bytes()


def test_empty_file_copies(tmp_path: Path) -> None:
    src = tmp_path / "empty"
    src.write_bytes(b"")
    cow_copy.copy_file(src, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b""


# --- part 5: warm worktrees --------------------------------------------------------------

def test_pool_warm_keeps_detached_worktrees_ready_and_a_run_takes_them(repo: Path) -> None:
    warmed = launcher_cli(repo, "pool", "warm", "2")
    assert warmed.returncode == 0, warmed.stderr
    assert "2 worktree(s) ready" in warmed.stdout
    assert len(pool_trees(repo)) == 2
    again = launcher_cli(repo, "pool", "warm", "2")
    assert "(0 new)" in again.stdout  # topping up, not adding

    (repo / ".env").write_text("TOKEN=1\n")
    (repo / ".worktreeinclude").write_text(".env\n")
    report = run_plan(repo, [
        {"id": "top", "script": [edit("app.py", "return a + b", "return b + a")]},
        {"id": "bottom", "script": [edit("app.py", "return a - b", "return -(b - a)")]},
    ])
    assert report.status == RunStatus.SUCCEEDED
    assert task(report, "top").state == "merged" and task(report, "bottom").state == "merged"
    assert pool_trees(repo) == []  # both were taken, none created
    assert "return b + a" in (repo / "app.py").read_text()
    assert "return -(b - a)" in (repo / "app.py").read_text()


def test_a_taken_worktree_is_on_its_own_branch_with_the_include_files(repo: Path) -> None:
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    (repo / ".env").write_text("TOKEN=1\n")
    (repo / ".worktreeinclude").write_text(".env\n")
    report = run_plan(repo, [{"id": "only", "script": [edit("app.py", "return a + b", "return b + a")]}],
                      merge=False)
    row = task(report, "only")
    assert row.state == "approved"
    assert row.worktree is not None and "/_pool/" not in row.worktree
    tree = Path(row.worktree)
    assert (tree / ".env").read_text() == "TOKEN=1\n"
    assert git(tree, "rev-parse", "--abbrev-ref", "HEAD").strip() == row.branch


def test_run_setting_warm_pool_refills_for_the_next_run_and_clean_all_removes_them(repo: Path) -> None:
    report = run_plan(repo, [{"id": "one", "script": [edit("app.py", "return a + b", "return b + a")]}],
                      warm_pool=2)
    assert report.status == RunStatus.SUCCEEDED
    trees = pool_trees(repo)
    assert len(trees) == 2
    tip = git(repo, "rev-parse", "main").strip()
    assert all(git(Path(t), "rev-parse", "HEAD").strip() == tip for t in trees)
    cleaned = launcher_cli(repo, "clean", "--all")
    assert cleaned.returncode == 0, cleaned.stderr
    assert pool_trees(repo) == []
