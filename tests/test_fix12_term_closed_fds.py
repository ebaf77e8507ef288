"""A command started with stdout, stderr or stdin closed (`launcher run plan.toml >&-`, `2>&-`,
`<&-`: a cron line, a supervisor, a script) does its work and exits with its own code. What would
go to a closed stream is dropped, never a traceback; under `--json` nothing but the report
reaches stdout, whatever state stderr is in; a closed stdin reads as empty input, never as a
terminal, and `launcher mcp`, which speaks over stdin, says that it is closed.

The streams are closed by the shell (`sh -c 'launcher ... >&-'`), as a user's command line does:
a descriptor that is not there at all, not one pointed at /dev/null."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.ui.view import SilentView, make_view
from tests.helpers import commit_shell_plan, git

AGENT = ('echo "$1" > t.txt; printf \'%s\' \'{"contract_version":"1","task_id":"t","status":"done",'
         '"summary":"wrote t.txt","files_changed":["t.txt"],"tests_added":[],"decisions":[],"blockers":[],'
         '"llm_observations":"o"}\' > "$LAUNCHER_CONTRACT"')


def launcher_with(repo: Path, redirect: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`launcher ARGS REDIRECT` run by a shell (`>&-` closes stdout for the launcher alone)."""
    command = f"exec {shlex.join([sys.executable, '-m', 'launcher', *args])} {redirect}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["sh", "-c", command], cwd=repo, env=env, capture_output=True, text=True, timeout=180)


def landed(repo: Path) -> bool:
    return "t.txt" in git(repo, "ls-tree", "--name-only", "main")


def no_crash(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr + done.stdout
    assert done.returncode != 70


@pytest.mark.parametrize("args", [["run", "plan.toml"], ["run", "plan.toml", "--json", "--quiet"]],
                         ids=["plain", "json-quiet"])
def test_a_run_with_stdout_closed_lands_and_exits_with_its_own_code(repo: Path, args: list[str]) -> None:
    commit_shell_plan(repo, AGENT)
    done = launcher_with(repo, ">&-", *args)
    no_crash(done)
    assert done.returncode == 0
    assert landed(repo)
    status = launcher_with(repo, "", "status")
    assert "status: succeeded" in status.stdout


def test_the_other_commands_with_stdout_closed_exit_0(repo: Path) -> None:
    commit_shell_plan(repo, AGENT)
    assert launcher_with(repo, "", "run", "plan.toml", "--quiet").returncode == 0
    for args in (["--version"], ["status"], ["runs", "--json"]):
        done = launcher_with(repo, ">&-", *args)
        no_crash(done)
        assert done.returncode == 0, (args, done.stderr)


def test_json_run_with_stderr_closed_prints_only_the_report_on_stdout(repo: Path) -> None:
    commit_shell_plan(repo, AGENT)
    done = launcher_with(repo, "2>&-", "run", "plan.toml", "--json")
    assert done.returncode == 0
    report = json.loads(done.stdout)  # the progress lines are not in front of it
    assert report["status"] == "succeeded"
    assert landed(repo)


@pytest.mark.parametrize("demo", ["--workflow", "--mutation"])
def test_a_demo_json_with_stderr_closed_prints_only_the_report(tmp_path: Path, demo: str) -> None:
    where = tmp_path / "demo"
    where.mkdir()
    done = launcher_with(tmp_path, "2>&-", "demo", demo, "--json", "--where", str(where))
    assert done.returncode == 0
    assert isinstance(json.loads(done.stdout), dict)  # "workflow wf_...", "sample repo: ..." not in front of it


def test_json_progress_without_a_stderr_is_silent_never_on_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    # An embedding caller whose sys.stderr is None (Python's own state for a closed fd 2).
    monkeypatch.setattr(sys, "stderr", None)
    assert isinstance(make_view(json_mode=True, quiet=False), SilentView)


def test_a_closed_stdin_is_no_input_and_never_a_terminal(repo: Path) -> None:
    label = launcher_with(repo, "<&-", "mutation", "label")
    no_crash(label)
    assert label.returncode == 2
    assert "no terminal is attached" in label.stderr

    judge = launcher_with(repo, "<&-", "mutation", "judge")
    no_crash(judge)
    assert judge.returncode == 2  # here: no sweep yet; never "a launcher bug"

    grade = launcher_with(repo, "<&-", "gate", "grade-record")
    no_crash(grade)
    assert grade.returncode == 1
    assert json.loads(grade.stdout.splitlines()[0])["error_key"] == "empty_input"


def test_mcp_with_its_stdin_or_stdout_closed_says_so(repo: Path) -> None:
    done = launcher_with(repo, "<&-", "mcp")
    no_crash(done)
    assert done.returncode == 2
    assert "stdin is closed" in done.stderr
    assert "MCP client" in done.stderr

    done = launcher_with(repo, ">&-", "mcp")
    assert done.returncode == 2
    assert "stdout is closed" in done.stderr
