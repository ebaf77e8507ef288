"""Shared fixtures: real git repositories in tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"
    )
    return subprocess.run(  # no detached `git maintenance` left behind: see helpers.NO_HOUSEKEEPING
        ["git", "-c", "maintenance.auto=false", "-c", "gc.auto=0", *args],
        cwd=cwd, env=env, check=True, capture_output=True, text=True,
    ).stdout


def repo_from(fixture: Path, root: Path, message: str = "fixture") -> Path:
    """A real repository on branch main whose one commit is a copy of a fixture directory."""
    shutil.copytree(fixture, root, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return root


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write each relative path's text under `root` (directories made as needed)."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Worktrees go under XDG_CACHE_HOME: keep each test's inside its tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for key in list(os.environ):
        if key.startswith("GIT_"):
            monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _suite_python_is_the_project_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a virtualenv (`.venv313/bin/python -m pytest`, activated or not), the suite is
    the project whose tests the sweeps, checks and workflow phases run: `python` there is this
    interpreter, as activating the virtualenv would make it. Without this, an unactivated run
    swept with whatever `python` PATH found first (another version, without coverage)."""
    if sys.prefix == sys.base_prefix:
        return
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real repository on branch main with one commit: a tiny package and its test."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "app.py").write_text("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    (root / "README.md").write_text("# sample\n")
    (root / ".gitignore").write_text(".env\n*.secret\nbuild/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root
