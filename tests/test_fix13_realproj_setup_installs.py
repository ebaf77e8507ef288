"""A task's `setup = "pip install -e ."` must not leave the user's shared venv broken.

Run in a task's worktree, that setup re-installs the project editable from the worktree into the
venv the user's `pip` belongs to; the launcher removes the worktree once the task is done, and the
user's checkout would no longer import its own package. The launcher keeps a copy of the venv's
editable installs before the first setup and puts back, after each setup, what was there before
(and at the run's end removes an install from a worktree that was not there before), with a note.

The project is built by a tiny in-tree PEP 660 backend (what setuptools does for a src layout: a
`__editable__.<dist>.pth` naming `src/`), so the real `pip install -e .` runs offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from editable_project import IMPORT, INSTALL, PYPROJECT, backend, make_venv, user_env

BACKEND = backend('''
        f"__editable__.{DIST}.pth": (src + "\\n").encode(),''')


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's shared venv (one for the module: making one takes a while)."""
    yield make_venv(tmp_path_factory.mktemp("user-venv") / "venv")


def _project(root: Path) -> Path:
    (root / "src/pkg").mkdir(parents=True)
    (root / "src/pkg/__init__.py").write_text("VALUE = 1\n")
    (root / "_backend").mkdir()
    (root / "_backend/backend.py").write_text(BACKEND)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".gitignore").write_text("__pycache__/\n.launcher/\n")
    (root / "plan.toml").write_text(
        '[[task]]\nid = "doc"\nagent = "scripted"\nprompt = "add a note"\n'
        f'setup = "{INSTALL}"\nscript = [{{ append = "NOTES.md", content = "note\\n" }}]\n'
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


def _sh(cmd: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", cmd], cwd=cwd, env=env, text=True, capture_output=True, timeout=300)


def _run(repo: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], str]:
    done = subprocess.run([sys.executable, "-m", "launcher", "run", "plan.toml", "--quiet"], cwd=repo, env=env,
                          text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=600)  # fmt: skip
    report = subprocess.run([sys.executable, "-m", "launcher", "status", "--json"], cwd=repo, env=env, text=True,
                            capture_output=True, timeout=120)  # fmt: skip
    return done, report.stdout


def _site(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def test_the_users_editable_install_is_put_back_after_the_setup_reinstalled_it_from_a_worktree(
    venv: Path, tmp_path: Path
) -> None:
    env = user_env(venv, tmp_path / "home")
    repo = _project(tmp_path / "repo")
    _sh("pip uninstall -q -y pkg", repo, env)
    assert _sh(INSTALL, repo, env).returncode == 0
    assert _sh(f"python -c '{IMPORT}'", tmp_path, env).stdout.strip() == str(repo / "src/pkg/__init__.py")

    done, report = _run(repo, env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / "NOTES.md").read_text() == "note\n"  # the task landed
    imported = _sh(f"python -c '{IMPORT}'", tmp_path, env)
    assert imported.stdout.strip() == str(repo / "src/pkg/__init__.py"), imported.stderr
    pth = (_site(venv) / "__editable__.pkg-0.1.pth").read_text()
    assert pth.strip() == str(repo / "src")
    direct = json.loads((_site(venv) / "pkg-0.1.dist-info/direct_url.json").read_text())
    assert direct["url"] == repo.as_uri()
    assert "put back the editable install of pkg-0.1 from " + repo.as_uri() in report
    assert "A setup command should not install the project itself into a shared environment" in report


def test_an_install_from_a_worktree_that_was_not_there_before_is_removed_at_the_runs_end(
    venv: Path, tmp_path: Path
) -> None:
    env = user_env(venv, tmp_path / "home")
    repo = _project(tmp_path / "repo")
    _sh("pip uninstall -q -y pkg", repo, env)

    done, report = _run(repo, env)

    assert done.returncode == 0, done.stdout + done.stderr
    site = _site(venv)
    assert not list(site.glob("__editable__*")) and not list(site.glob("pkg-*.dist-info"))
    assert "No module named 'pkg'" in _sh(f"python -c '{IMPORT}'", tmp_path, env).stderr
    assert "removed the editable install of pkg-0.1" in report
