"""While tasks run, `status` predicts which may conflict from the files each has touched so far: a
committed rename touches both its paths (the old one is deleted, and an edit of it elsewhere
does conflict), and the user's diff settings hide nothing from that list."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
from conftest import git

from launcher.git.conflict_matrix import predicted, touched_files
from launcher.git.repo import GitRepo


def _touched(repo: Path, worktree: Path, start: str) -> list[str]:
    async def go() -> list[str]:
        return await touched_files(await GitRepo.discover(repo), worktree, start)
    return anyio.run(go)


def _worktree(repo: Path, name: str) -> Path:
    path = repo.parent / name
    git(repo, "worktree", "add", "-q", "-b", name, str(path), "main")
    return path


def test_a_committed_rename_touches_its_old_and_its_new_path(repo: Path) -> None:
    start = git(repo, "rev-parse", "HEAD").strip()
    mover, editor = _worktree(repo, "mover"), _worktree(repo, "editor")
    git(mover, "mv", "app.py", "core.py")
    (mover / "core.py").write_text((mover / "core.py").read_text().replace("a + b", "b + a"))
    git(mover, "commit", "-qam", "rename app.py to core.py")
    (editor / "app.py").write_text((editor / "app.py").read_text().replace("a + b", "a + b + 0"))
    git(editor, "commit", "-qam", "edit app.py")

    touched = {"mover": _touched(repo, mover, start), "editor": _touched(repo, editor, start)}

    assert touched["mover"] == ["app.py", "core.py"]
    assert [(p.a, p.b, p.kind, p.files) for p in predicted(touched, [])] == [
        ("mover", "editor", "predicted", ["app.py"])]
    merged = subprocess.run(["git", "merge-tree", "--write-tree", "mover", "editor"], cwd=repo,
                            capture_output=True, text=True)
    assert merged.returncode == 1 and "CONFLICT" in merged.stdout  # git agrees: they conflict


def test_a_users_diff_settings_hide_no_touched_file(repo: Path) -> None:
    """Neither `diff.renames=copies` nor `diff.ignoreSubmodules=all` changes what a task touched."""
    start = git(repo, "rev-parse", "HEAD").strip()
    task = _worktree(repo, "task")
    git(task, "mv", "app.py", "core.py")
    git(task, "update-index", "--add", "--cacheinfo", f"160000,{start},vendor/lib")
    git(task, "commit", "-qm", "rename, and point a submodule")
    git(repo, "config", "diff.renames", "copies")
    git(repo, "config", "diff.ignoreSubmodules", "all")

    assert _touched(repo, task, start) == ["app.py", "core.py", "vendor/lib"]
