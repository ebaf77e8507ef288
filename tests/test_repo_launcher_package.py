"""A repository whose project has its own top-level `launcher/` package (a game launcher, an app
launcher...) is worked on like any other: every child launcher starts in it (the detached
workflow runner, the scripted agent, the scripted test writer and the `mutant_kill` check of
`launcher mutation fix`) runs the installed launcher, never the repository's package. Real
repositories, the real CLI (the `launcher` console script) and real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files
from helpers import swept_project

import launcher
from launcher.app.mutation.fix import FixOptions, fix_survivors

CONSOLE_SCRIPT = Path(sys.executable).with_name("launcher")
MINI = """name = "mini"
description = "one phase"
[parameters.what]
required = true
[[phase]]
id = "build"
[[phase.primary]]
role = "backend"
prompt = "Build {what}"
"""


def shadowing_package(marker: Path) -> dict[str, str]:
    """The project's own `launcher` package: importing it leaves `marker` and exits."""
    return {"launcher/__init__.py": f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
                                    "raise SystemExit(\"this repository's own launcher package ran\")\n"}  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, **extra}


def _workflow_repo(root: Path, files: dict[str, str]) -> Path:
    write_files(root, {"workflows/mini.toml": MINI, "launcher.toml": '[roles]\ndefault = "scripted"\n',
                       ".gitignore": ".launcher/\n", "app.py": "def add(a, b):\n    return a + b\n",
                       "scripts.json": json.dumps({"backend": [{"append": "app.py",
                                                                "content": "\n\ndef mul(a, b):\n    return a * b\n"}]}),
                       **files})  # fmt: skip
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def _detached_phase(repo: Path, cli: list[str], env: dict[str, str]) -> dict[str, Any]:
    """`workflow start --detach` (the MCP server's way), then the workflow once its runner is done."""
    started = subprocess.run(
        [*cli, "workflow", "start", "mini", "-p", "what=mul", "--scripts", "scripts.json", "--detach", "--json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    wid = json.loads(started.stdout)["workflowId"]
    deadline = time.time() + 120
    while True:
        shown = subprocess.run([*cli, "workflow", "status", wid, "--json"], cwd=repo, env=env, capture_output=True,
                               text=True, timeout=60)  # fmt: skip
        state: dict[str, Any] = json.loads(shown.stdout)
        # "ready" until the detached runner has taken the phase over (a slow start, under load)
        if state["done"] or state["status"] not in ("running", "ready") or time.time() > deadline:
            return state
        time.sleep(0.3)


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the launcher console script is not installed")
def test_a_detached_workflow_runner_runs_the_installed_launcher_in_such_a_repository(tmp_path: Path) -> None:
    marker = tmp_path / "shadow-ran"
    repo = _workflow_repo(tmp_path / "repo", shadowing_package(marker))

    state = _detached_phase(repo, [str(CONSOLE_SCRIPT)], _env())

    assert state["status"] == "completed", state
    phase = state["phases"][0]
    assert phase["status"] == "succeeded" and not phase["error"], phase
    assert "def mul(a, b)" in git(repo, "show", "main:app.py")  # the scripted agent's work landed
    assert not marker.exists()


def test_a_launcher_found_only_through_pythonpath_starts_its_runner_too(tmp_path: Path) -> None:
    """No launcher installed for this interpreter: PYTHONPATH names launcher's source and its
    dependencies; the detached runner (and the agent it starts) find them the same way."""
    bare = getattr(sys, "_base_executable", sys.executable)
    probe = subprocess.run([bare, "-c", "import launcher"], cwd=tmp_path, env=_env(PYTHONPATH=""), capture_output=True)
    if probe.returncode == 0:
        pytest.skip("launcher is installed for the base interpreter too")
    source = str(Path(launcher.__file__).resolve().parent.parent)
    env = _env(PYTHONPATH=os.pathsep.join([source, sysconfig.get_paths()["purelib"]]))
    repo = _workflow_repo(tmp_path / "repo", {})

    state = _detached_phase(repo, [bare, "-m", "launcher"], env)

    assert state["status"] == "completed", state
    assert "def mul(a, b)" in git(repo, "show", "main:app.py")


PROJECT = {
    "calc/__init__.py": "",
    "calc/core.py": "def is_adult(age):\n    return age >= 18\n",
    "tests/test_core.py": "from calc.core import is_adult\n\n\ndef test_is_adult():\n"
                          "    assert is_adult(30)\n    assert not is_adult(3)\n",
}  # fmt: skip


def test_mutation_fix_writes_and_checks_the_killing_tests_in_such_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scripted test writer (an agent in the task's worktree) and the `mutant_kill` check
    (the tree's import roots first on PYTHONPATH) both run launcher's own modules."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    marker = tmp_path / "shadow-ran"
    root = swept_project(tmp_path / "proj", {**PROJECT, **shadowing_package(marker), ".gitignore": ".launcher/\n"},
                         ["calc/core.py"], identity=("t", "t@example.com"))  # fmt: skip

    summary = anyio.run(fix_survivors, root, FixOptions(all_unjudged=True, python=sys.executable), lambda _e: None)

    assert summary.exit_code == 0 and summary.killed and not summary.refused, summary
    assert any(name.startswith("tests/test_kill_") for name in git(root, "ls-files", "tests").split())
    assert not marker.exists()
