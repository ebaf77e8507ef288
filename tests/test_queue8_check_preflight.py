"""The integration check is a `/bin/sh -c` command. Before a run starts, a check whose first
program is missing is refused (exit 3, nothing created); a check that starts with a shell
builtin (`trap ... EXIT`, `readonly`, `wait`), or with a function it defines itself, names no
missing program and runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, launcher_cli, run_plan, task

from launcher.errors import EnvironmentProblem

TASKS = [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]


@pytest.mark.parametrize(
    "check",
    [
        "trap 'echo cleanup' EXIT; test -e README.md",
        "check() { test -e README.md; }; check",
        "wait; test -e README.md",
        "readonly X=1; test -e README.md",
        "getopts ab opt; test -e README.md",
    ],
)
def test_a_check_starting_with_a_shell_builtin_or_its_own_function_runs_and_lands(repo: Path, check: str) -> None:
    report = run_plan(repo, TASKS, integration_check=check)

    assert task(report, "a").state == "merged", task(report, "a").message
    assert report.queue.check_runs >= 1
    assert git(repo, "show", "main:a.txt") == "a\n"


def test_a_check_whose_program_is_missing_is_still_refused_before_anything_is_created(repo: Path) -> None:
    with pytest.raises(EnvironmentProblem) as refused:
        run_plan(repo, TASKS, integration_check="X=1 no-such-checker-xyz --all")
    assert "runs no-such-checker-xyz, which is not on PATH" in str(refused.value)
    assert not (repo / ".launcher" / "runs").exists()


def test_the_cli_starts_a_run_whose_check_begins_with_trap(repo: Path) -> None:
    plan = repo.parent / "plan.toml"
    plan.write_text(
        "[run]\nintegration_check = \"trap 'echo cleanup' EXIT; test -e README.md\"\n"
        '[agents.bot]\nadapter = "command"\ncommand = ["sh", "-c", '
        '"echo b > b.txt && git add b.txt && git commit -qm b"]\n'
        '[[task]]\nid = "b"\nagent = "bot"\nprompt = "x"\n'
    )

    done = launcher_cli(repo, "run", str(plan))

    assert "not on PATH" not in done.stderr, done.stderr
    assert done.returncode != 3, done.stderr
    assert "run r-" in done.stdout, done.stdout + done.stderr  # it started (and ran the agent)
