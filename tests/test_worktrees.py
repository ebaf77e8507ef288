"""Worktrees: create, lock, list, remove, reconcile, clean a run — on real repositories."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import pytest
from conftest import git

from launcher.errors import GitFailed, UsageProblem
from launcher.git.repo import GitRepo
from launcher.git.run_leftovers import remove_run_leftovers
from launcher.git.worktrees import (
    WorktreeInfo,
    branch_has_changes,
    branch_name,
    create_worktree,
    default_worktree_root,
    integration_branch,
    list_launcher_branches,
    list_worktrees,
    lock_worktree,
    reconcile,
    remove_worktree,
    unlock_worktree,
)

T = TypeVar("T")


def run(fn: Callable[[], Awaitable[T]]) -> T:
    async def go() -> T:
        return await fn()

    return anyio.run(go)


def open_repo(path: Path) -> GitRepo:
    return anyio.run(GitRepo.discover, path)


def create(gr: GitRepo, path: Path, branch: str, start: str = "HEAD") -> None:
    run(lambda: create_worktree(gr, path=path, branch=branch, start=start))


def listing(gr: GitRepo) -> list[WorktreeInfo]:
    return run(lambda: list_worktrees(gr))


def find(gr: GitRepo, path: Path) -> WorktreeInfo | None:
    return next((i for i in listing(gr) if i.path.resolve() == path.resolve()), None)


def branches(repo: Path) -> list[str]:
    return sorted(git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split())


def test_default_root(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gr = open_repo(repo)
    hash8 = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:8]
    expected = tmp_path / "cache" / "launcher" / "worktrees" / f"repo-{hash8}"
    assert default_worktree_root(gr, None) == expected
    assert default_worktree_root(gr, ".wt") == gr.root / ".wt"
    assert default_worktree_root(gr, str(tmp_path / "abs")) == tmp_path / "abs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_worktree_root(gr, None) == (
        tmp_path / "home" / ".cache" / "launcher" / "worktrees" / f"repo-{hash8}"
    )


def test_branch_names() -> None:
    assert branch_name("r1", "t-2") == "launcher/r1/t-2"
    assert integration_branch("r1") == "launcher/r1/_integration"  # `_`: never a task id


def test_create_lock_unlock_remove(repo: Path, tmp_path: Path) -> None:
    gr = open_repo(repo)
    root = default_worktree_root(gr, None)
    path = root / "r1" / "t1"
    branch = branch_name("r1", "t1")
    create(gr, path, branch)
    assert (path / "app.py").read_text() == (repo / "app.py").read_text()
    info = find(gr, path)
    assert info is not None and info.branch == branch and not info.locked
    assert info.head == git(repo, "rev-parse", "HEAD").strip()

    run(lambda: lock_worktree(gr, path, "agent running"))
    run(lambda: lock_worktree(gr, path, "again"))  # already locked: not an error
    info = find(gr, path)
    assert info is not None and info.locked and info.lock_reason == "agent running"
    run(lambda: unlock_worktree(gr, path))
    run(lambda: unlock_worktree(gr, path))  # not locked: not an error
    info = find(gr, path)
    assert info is not None and not info.locked

    run(lambda: lock_worktree(gr, path, "agent running"))
    run(lambda: remove_worktree(gr, path, branch=branch, delete_branch=True))
    assert not path.exists()
    assert not (root / "r1").exists()  # the emptied run directory goes too
    assert find(gr, path) is None
    assert branches(repo) == ["main"]


def test_remove_keeps_branch_unless_asked(repo: Path) -> None:
    gr = open_repo(repo)
    path = default_worktree_root(gr, None) / "r1" / "t1"
    create(gr, path, "launcher/r1/t1")
    run(lambda: remove_worktree(gr, path))
    assert find(gr, path) is None
    assert "launcher/r1/t1" in branches(repo)


def test_create_is_idempotent_and_refuses_conflicts(repo: Path) -> None:
    gr = open_repo(repo)
    root = default_worktree_root(gr, None)
    path = root / "r1" / "t1"
    create(gr, path, "launcher/r1/t1")
    create(gr, path, "launcher/r1/t1")  # a retry of the same step
    assert len(listing(gr)) == 2
    with pytest.raises(GitFailed, match="already a worktree"):
        create(gr, path, "launcher/r1/other")

    # A branch left at the start commit (worktree gone) is reused ...
    run(lambda: remove_worktree(gr, path))
    create(gr, path, "launcher/r1/t1")
    assert find(gr, path) is not None
    # ... but one with work on it is never reset.
    (path / "new.txt").write_text("work\n")
    git(path, "add", "new.txt")
    git(path, "commit", "-q", "-m", "work")
    run(lambda: remove_worktree(gr, path))
    with pytest.raises(GitFailed, match="not at"):
        create(gr, path, "launcher/r1/t1")

    # A foreign non-empty directory in the way is not deleted.
    other = root / "r1" / "t2"
    other.mkdir(parents=True)
    (other / "precious.txt").write_text("keep\n")
    with pytest.raises(GitFailed, match="not a worktree"):
        create(gr, other, "launcher/r1/t2")
    assert (other / "precious.txt").exists()


def test_list_worktrees_parses_all_states(repo: Path, tmp_path: Path) -> None:
    gr = open_repo(repo)
    detached = tmp_path / "detached"
    git(repo, "worktree", "add", "-q", "--detach", str(detached), "HEAD")
    locked = tmp_path / "locked"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(locked))
    git(repo, "worktree", "lock", "--reason", "busy", str(locked))
    gone = tmp_path / "gone"
    git(repo, "worktree", "add", "-q", "-b", "gone", str(gone))
    shutil.rmtree(gone)

    infos = listing(gr)
    head = git(repo, "rev-parse", "HEAD").strip()
    assert infos[0].path.resolve() == repo.resolve()  # the main work tree always comes first
    by_path = {i.path.resolve(): i for i in infos[1:]}
    assert set(by_path) == {p.resolve() for p in (detached, locked, gone)}
    main = infos[0]
    det, lck, gne = (by_path[p.resolve()] for p in (detached, locked, gone))
    assert (main.branch, main.head, main.detached, main.locked) == ("main", head, False, False)
    assert det.detached and det.branch is None and det.head == head
    assert lck.locked and lck.lock_reason == "busy" and lck.branch == "feature"
    assert gne.prunable and not lck.prunable and not main.prunable


def test_branch_has_changes(repo: Path) -> None:
    gr = open_repo(repo)
    base = git(repo, "rev-parse", "HEAD").strip()
    path = default_worktree_root(gr, None) / "r1" / "t1"
    create(gr, path, "launcher/r1/t1", start=base)
    assert run(lambda: branch_has_changes(gr, "launcher/r1/t1", base)) is False
    (path / "app.py").write_text("changed\n")
    git(path, "commit", "-q", "-am", "change")
    assert run(lambda: branch_has_changes(gr, "launcher/r1/t1", base)) is True


def test_reconcile_prunes_vanished_worktrees(repo: Path) -> None:
    gr = open_repo(repo)
    root = default_worktree_root(gr, None)
    kept, vanished, locked = (root / "r1" / name for name in ("kept", "vanished", "locked"))
    for path in (kept, vanished, locked):
        create(gr, path, f"launcher/r1/{path.name}")
    run(lambda: lock_worktree(gr, locked, "agent running"))
    shutil.rmtree(vanished)
    shutil.rmtree(locked)  # a crash left it locked; plain `git worktree prune` skips it

    notes = run(lambda: reconcile(gr, root))
    assert any(str(vanished) in n for n in notes)
    assert any(str(locked) in n and "pruned" in n for n in notes)
    remaining = [i.path.resolve() for i in listing(gr)]
    assert remaining == [repo.resolve(), kept.resolve()]
    assert run(lambda: reconcile(gr, root)) == []  # nothing left to fix


def test_a_user_s_own_worktree_moved_by_hand_is_never_pruned(repo: Path, tmp_path: Path) -> None:
    # git keeps a moved worktree's registration for months so `git worktree repair` can bring it
    # back, staged work and all; the launcher forgets only registrations of its own.
    gr = open_repo(repo)
    mine, moved = tmp_path / "feature", tmp_path / "feature-moved"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(mine))
    (mine / "w.txt").write_text("staged work\n")
    git(mine, "add", "w.txt")
    mine.rename(moved)
    root = default_worktree_root(gr, None)
    ours = root / "r1" / "gone"
    create(gr, ours, "launcher/r1/gone")
    shutil.rmtree(ours)

    notes = run(lambda: reconcile(gr, root))
    assert any(str(ours) in n for n in notes) and not any("feature" in n for n in notes)
    git(moved, "worktree", "repair")
    assert git(moved, "status", "--porcelain") == "A  w.txt\n"


def test_remove_broken_worktree(repo: Path) -> None:
    gr = open_repo(repo)
    path = default_worktree_root(gr, None) / "r1" / "t1"
    create(gr, path, "launcher/r1/t1")
    (path / ".git").unlink()  # git no longer recognises the directory
    run(lambda: remove_worktree(gr, path, delete_branch=True))
    assert not path.exists()
    assert len(listing(gr)) == 1
    assert branches(repo) == ["main"]


def test_remove_run_leftovers(repo: Path, tmp_path: Path) -> None:
    gr = open_repo(repo)
    root = default_worktree_root(gr, None)
    for task in ("a", "b", "c"):
        create(gr, root / "r1" / task, branch_name("r1", task))
    run(lambda: lock_worktree(gr, root / "r1" / "a", "agent running"))
    git(repo, "branch", integration_branch("r1"))
    # The integration branch checked out somewhere else would block its deletion.
    elsewhere = tmp_path / "merge-wt"
    git(repo, "worktree", "add", "-q", str(elsewhere), integration_branch("r1"))
    (root / "r1" / "stray").mkdir()  # an unregistered leftover
    create(gr, root / "r10" / "a", branch_name("r10", "a"))  # another run: untouched

    assert run(lambda: list_launcher_branches(gr, "r1")) == [
        "launcher/r1/_integration", "launcher/r1/a", "launcher/r1/b", "launcher/r1/c",
    ]
    removed = run(lambda: remove_run_leftovers(gr, root, "r1"))
    assert sum(r.startswith("worktree ") for r in removed) == 4
    assert sum(r.startswith("branch ") for r in removed) == 4
    assert not (root / "r1").exists()
    assert run(lambda: list_launcher_branches(gr)) == ["launcher/r10/a"]

    run(lambda: remove_run_leftovers(gr, root, "r10"))
    porcelain = git(repo, "worktree", "list", "--porcelain")
    assert [ln for ln in porcelain.splitlines() if ln.startswith("worktree ")] == [
        f"worktree {repo}"
    ]
    assert branches(repo) == ["main"]
    with pytest.raises(UsageProblem):
        run(lambda: remove_run_leftovers(gr, root, "../x"))


def test_sixteen_parallel_creates(repo: Path) -> None:
    gr = open_repo(repo)
    root = default_worktree_root(gr, None)
    paths = [root / "r1" / f"t{i}" for i in range(16)]

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            for i, path in enumerate(paths):
                tg.start_soon(_create, gr, path, branch_name("r1", f"t{i}"))

    anyio.run(go)
    infos = listing(gr)
    assert len(infos) == 17
    assert {i.branch for i in infos[1:]} == {branch_name("r1", f"t{i}") for i in range(16)}
    assert all((p / "app.py").is_file() for p in paths)
    assert git(repo, "worktree", "list").count("launcher/r1/") == 16


async def _create(gr: GitRepo, path: Path, branch: str) -> None:
    await create_worktree(gr, path=path, branch=branch, start="main")
