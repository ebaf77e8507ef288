"""A launcher started with GIT_DIR, GIT_INDEX_FILE... in its environment (a git hook running a
sweep, a dotfiles setup) never hands them to the project's code: a sweep's test runs and `mutation
fix`'s kill check get no GIT_* variable but the names of the user's config files (their git
identity may be there), `launcher run`'s checks and agents none at all (one rule,
git/git_vars.py), so a test's scratch repository never writes the user's branch or index."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from conftest import git, write_files
from helpers import launcher_cli

from launcher.engine.command_env import command_env
from launcher.gates import mutant_kill
from launcher.mutation.run_env import child_env

HOOK_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG_PARAMETERS", "GIT_OBJECT_DIRECTORY")

SCRATCH_REPO_TEST = '''import os, subprocess, tempfile

def test_makes_a_scratch_repo():
    d = tempfile.mkdtemp()
    subprocess.run(["git", "init", "-q", d], check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", d, "commit", "-q",
                    "--allow-empty", "-m", "test fixture commit"], check=True)
    assert subprocess.run(["git", "-C", d, "log", "--format=%s"], capture_output=True, text=True,
                          check=True).stdout == "test fixture commit\\n"
'''


def _project(root: Path) -> Path:
    write_files(root, {
        "src/calc.py": "def add(a, b):\n    return a + b\n",
        "tests/test_calc.py": "import sys, os\n"
                              "sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'src'))\n"
                              "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n",
        "tests/test_git.py": SCRATCH_REPO_TEST,
    })
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


def test_a_sweep_started_from_a_hook_runs_the_tests_without_the_hooks_git_variables(tmp_path: Path) -> None:
    root = _project(tmp_path / "repo")
    before, index = git(root, "rev-parse", "main"), (root / ".git" / "index").read_bytes()
    hook_env = {"GIT_DIR": str(root / ".git"), "GIT_INDEX_FILE": str(root / ".git" / "index")}

    done = launcher_cli(root, "mutation", "sweep", "src", "--python", sys.executable, timeout=300, env=hook_env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert git(root, "rev-parse", "main") == before, git(root, "log", "--format=%s", "main")
    assert (root / ".git" / "index").read_bytes() == index


def test_a_sweeps_test_runs_keep_only_the_config_file_names_and_a_runs_checks_no_git_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in HOOK_VARS:
        monkeypatch.setenv(name, str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("DATABASE_URL", "kept")  # a sweep's tests still get the rest of ours
    sweep = child_env({"EXTRA": "1"})
    check = command_env(tmp_path, main_root=tmp_path, run_id="r", task_id=None,
                        pass_names=[*HOOK_VARS, "GIT_CONFIG_GLOBAL"])
    assert [k for k in sweep if k.startswith("GIT_")] == ["GIT_CONFIG_GLOBAL"], sweep
    assert not [k for k in check if k.startswith("GIT_")], check
    assert sweep["DATABASE_URL"] == "kept" and sweep["EXTRA"] == "1"


def test_the_kill_check_reads_its_own_tree_and_runs_its_tests_without_the_launchers_git_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = _project(tmp_path / "other")
    (other / "src" / "calc.py").write_text("# the other repository's uncommitted change\n")
    tree = _project(tmp_path / "tree")
    base = git(tree, "rev-parse", "HEAD").strip()
    write_files(tree, {"tests/test_more.py": "def test_more():\n    assert True\n"})
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))

    assert anyio.run(mutant_kill.changed_files, tree, base) == ["tests/test_more.py"]
    rc, failed, output = anyio.run(mutant_kill._pytest, sys.executable, tree, ["tests/test_git.py"],
                                   mutant_kill.check_env)
    assert (rc, failed) == (0, []), output
    assert git(other, "log", "--format=%s", "main") == "init\n"
    assert "GIT_DIR" in os.environ  # the launcher's own environment is left as it was
