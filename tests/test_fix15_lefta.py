"""Left-alone defects of the fifteenth review: site installs and masking.

- `launcher clean` of a run whose launcher was killed while a command re-pointed the user's
  venv into a worktree puts the user's install back before the worktrees go, and says so.
- The commands the launcher runs outside a run's tasks (a workflow's test and coverage runs, the
  mutation judge, `mutation fix`'s re-settle) are guarded as a task's checks are: what they
  install from their throwaway tree into the user's venv is put back after them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from editable_project import IMPORT, INSTALL, PYPROJECT, backend, make_venv, user_env

BACKEND = backend('''
        "pkg-editable.pth": (src + "\\n").encode(),''')
TASK = '[[task]]\nid = "doc"\nagent = "scripted"\nprompt = "add a note"\n'
SCRIPT = 'script = [{ append = "NOTES.md", content = "note\\n" }]\n'


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's shared venv (one for the module: making one takes a while)."""
    yield make_venv(tmp_path_factory.mktemp("user-venv") / "venv")


def _project(root: Path, plan: str) -> Path:
    (root / "src/pkg").mkdir(parents=True)
    (root / "src/pkg/__init__.py").write_text("VALUE = 1\n")
    (root / "_backend").mkdir()
    (root / "_backend/backend.py").write_text(BACKEND)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".gitignore").write_text("__pycache__/\n.launcher/\n")
    (root / "plan.toml").write_text(plan)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


def _sh(cmd: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", cmd], cwd=cwd, env=env, text=True, capture_output=True, timeout=300)


def _launcher(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=repo, env=env, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=600)  # fmt: skip


def _imports(where: Path, env: dict[str, str]) -> str:
    done = _sh(f"python -c '{IMPORT}'", where, env)
    return done.stdout.strip() or done.stderr.strip()


def _installed_by_user(repo: Path, env: dict[str, str], tmp_path: Path) -> None:
    _sh("pip uninstall -q -y pkg", repo, env)
    assert _sh(INSTALL, repo, env).returncode == 0
    assert _imports(tmp_path, env) == str(repo / "src/pkg/__init__.py")


def _killed_while(repo: Path, env: dict[str, str], marker: Path, tmp_path: Path) -> None:
    """`launcher run` killed -9 once `marker` says its command installed from a worktree."""
    launcher = subprocess.Popen([sys.executable, "-m", "launcher", "run", "plan.toml", "--quiet"], cwd=repo, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the command never ran"
        assert "/worktrees/" in _imports(tmp_path, env)  # it re-pointed the user's venv...
    finally:
        os.kill(launcher.pid, signal.SIGKILL)  # ...and the launcher dies before it puts it back
        launcher.wait()


# 1. `launcher clean` puts the user's install back, as `resume` does


def test_clean_after_a_launcher_killed_during_a_check_that_installed_puts_the_users_install_back(
    venv: Path, tmp_path: Path
) -> None:
    env = user_env(venv, tmp_path / "home")
    marker = tmp_path / "installed"
    repo = _project(tmp_path / "repo", TASK + f'checks = ["{INSTALL} && touch {marker} && sleep 60"]\n' + SCRIPT)
    _installed_by_user(repo, env, tmp_path)
    _killed_while(repo, env, marker, tmp_path)

    done = _launcher(repo, env, "clean")  # its check (left running) is killed by clean

    assert done.returncode == 0, done.stdout + done.stderr
    assert _imports(tmp_path, env) == str(repo / "src/pkg/__init__.py")  # the user's checkout again
    assert "put back the editable install of pkg-0.1 from " + repo.as_uri() in done.stdout
    assert "a command of run r-" in done.stdout


# 2. Every command run in a launcher tree is guarded: a workflow's test command


WORKFLOW = """name = "t"
description = "one tested phase"
keywords = ["t"]
[[phase]]
id = "test"
artifacts = ["test/results.json"]
[[phase.primary]]
role = "tester"
prompt = "test it"
"""


def test_a_workflow_test_command_that_installs_the_project_leaves_the_users_install_as_it_was(
    venv: Path, tmp_path: Path
) -> None:
    env = user_env(venv, tmp_path / "home")
    repo = _project(tmp_path / "repo", "")
    (repo / "workflows").mkdir()
    (repo / "workflows/t.toml").write_text(WORKFLOW)
    (repo / "launcher.toml").write_text(
        '[agents.w]\nadapter = "command"\ncommand = ["sh", "-c", "echo tested > done.txt"]\n'
        f'[roles]\ndefault = "w"\n[workflow]\ntest_command = "{INSTALL} && echo tests-ran"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "workflow")
    _installed_by_user(repo, env, tmp_path)

    done = _launcher(repo, env, "workflow", "start", "t", "--json")

    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(next((repo / ".launcher/workflows").glob("*/test/results.json")).read_text())
    assert results["output_tail"] == "tests-ran\n"  # the test command ran, and installed from its scratch tree
    assert _imports(tmp_path, env) == str(repo / "src/pkg/__init__.py")  # the user's checkout again
    assert "put back the editable install of pkg-0.1 from " + repo.as_uri() in results["installs_put_back"][0]
