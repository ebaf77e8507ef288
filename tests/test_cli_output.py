"""What every command prints never changes its outcome: a terminal that cannot show a character,
a reader that stops early (`| head -1`) or an output that fails leaves the exit code the
command's own (or 70 with a message for a failed output), never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import git, launcher_cli


@pytest.fixture
def accented_repo(tmp_path: Path) -> Path:
    """A repository whose path a non-UTF-8 terminal cannot show, with one finished run."""
    root = tmp_path / "proj é"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("# sample\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


ASCII = {"PYTHONIOENCODING": "ascii"}


def test_a_terminal_that_cannot_show_a_path_still_gets_every_commands_output(accented_repo: Path) -> None:
    done = launcher_cli(accented_repo, "run", "--task", "nothing to do", "--agent", "scripted", env=ASCII)
    assert done.returncode == 0, done.stderr  # the run succeeded: 0, not 1 ("a task failed")
    assert "Traceback" not in done.stderr
    assert "proj \\u00e9" in done.stdout  # the summary's artifacts path, escaped
    for args in (["status"], ["runs"], ["status", "--all"]):
        shown = launcher_cli(accented_repo, *args, env=ASCII)
        assert shown.returncode == 0, (args, shown.stderr)
        assert "Traceback" not in shown.stderr
    for args in (["status", "--json"], ["runs", "--json"]):
        shown = launcher_cli(accented_repo, *args, env=ASCII)
        assert shown.returncode == 0, (args, shown.stderr)
        json.loads(shown.stdout)  # still valid JSON: the escape is JSON's own
    report = json.loads(launcher_cli(accented_repo, "status", "--json", env=ASCII).stdout)
    assert report["repo"].endswith("proj é")
    as_json = launcher_cli(accented_repo, "run", "--task", "again", "--agent", "scripted", "--json", env=ASCII)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["repo"].endswith("proj é")
    logs = launcher_cli(accented_repo, "logs", report["run_id"], "task-1", env=ASCII)
    assert logs.returncode == 0 and "Traceback" not in logs.stderr
    cleaned = launcher_cli(accented_repo, "clean", "--all", env=ASCII)
    assert cleaned.returncode == 0 and "Traceback" not in cleaned.stderr


def _with_reader_gone(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command with its stdout a pipe whose reader has already gone (`| true`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "launcher", *args],
            cwd=cwd,
            env=env,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)


def test_a_reader_that_stops_early_changes_no_commands_exit_code(accented_repo: Path) -> None:
    assert launcher_cli(accented_repo, "run", "--task", "x", "--agent", "scripted").returncode == 0
    for args in (
        ["--help"],
        ["--version"],
        ["run", "--help"],
        ["status"],
        ["status", "--json"],
        ["runs"],
        ["runs", "--json"],
        ["agents"],
    ):
        gone = _with_reader_gone(accented_repo, *args)
        assert gone.returncode == 0, (args, gone.stderr)
        assert "Traceback" not in gone.stderr and "Broken pipe" not in gone.stderr, (args, gone.stderr)
    failing = _with_reader_gone(accented_repo, "status", "r-20990101-000000-abcd")
    assert failing.returncode == 2  # its own code, not 1


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_output_that_fails_is_said_with_exit_70_never_a_traceback(accented_repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    for args in (["run", "--task", "x", "--agent", "scripted", "-q"], ["status"], ["status", "--json"], ["--help"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                [sys.executable, "-m", "launcher", *args],
                cwd=accented_repo,
                env=env,
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
            )
        assert done.returncode == 70, (args, done.stderr)
        assert "cannot write the output to stdout: No space left on device" in done.stderr
        assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
