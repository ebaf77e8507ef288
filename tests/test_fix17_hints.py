"""The commands the launcher suggests name it as it was run: copied into a shell, they work.

Run by a venv's path that is not on PATH, `launcher status` in a hint would be "command not
found": the hints say that path instead. Where `launcher` on PATH is this installation, they
say `launcher`. The launcher named in prose ("the launcher run") is left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from conftest import git

from launcher import invocation
from launcher.cli.main import app

PROGRAM = Path(sys.executable).parent / "launcher"


def _said(repo: Path, path: str, *args: str) -> str:
    env = {**os.environ, "PATH": path, "HOME": str(repo.parent / "home")}
    done = subprocess.run([str(PROGRAM), *args], cwd=repo, env=env, text=True, capture_output=True, timeout=120)
    return done.stdout + done.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "home").mkdir()
    (root / "f").write_text("x\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "f")
    git(root, "commit", "-qm", "init")
    return root


def test_run_by_a_path_not_on_path_its_hints_name_that_path(repo: Path) -> None:
    bare = "/usr/local/bin:/usr/bin:/bin"
    said = _said(repo, bare, "status") + _said(repo, bare, "init") + _said(repo, bare, "resume")

    assert f"`{PROGRAM} run PLAN`" in said
    assert f"{PROGRAM} run plan.example.toml" in said
    assert "`launcher " not in said and " launcher run" not in said


def test_run_as_launcher_on_path_its_hints_say_launcher(repo: Path) -> None:
    said = _said(repo, f"{PROGRAM.parent}{os.pathsep}/usr/bin:/bin", "status")

    assert "`launcher run PLAN`" in said


def test_prose_naming_the_launcher_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invocation, "launcher_program", lambda: "/opt/venv/bin/launcher")

    said = invocation.as_invoked("the launcher run stopped; `launcher resume` continues it\nlauncher status")

    assert said == ("the launcher run stopped; `/opt/venv/bin/launcher resume` continues it\n"
                    "/opt/venv/bin/launcher status")


def test_every_command_of_the_cli_is_known_as_one() -> None:
    assert set(typer.main.get_group(app).commands) == invocation.COMMANDS


def test_a_runs_notes_and_messages_in_its_summary_name_the_launcher_as_it_was_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from launcher.models.report import RunReport
    from launcher.ui.summary import render_summary
    monkeypatch.setattr(invocation, "launcher_program", lambda: "/opt/venv/bin/launcher")
    report = RunReport.model_validate({"run_id": "r-1", "status": "failed", "tasks": [], "notes": [], "repo": "/r",
                                       "base_sha": "0" * 40, "target": "main",
                                       "message": "stopped: `launcher resume` continues"})
    console = Console(width=200, record=True)
    console.print(render_summary(report))

    assert "`/opt/venv/bin/launcher resume` continues" in console.export_text()
