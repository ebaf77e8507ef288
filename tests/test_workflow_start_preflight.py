"""`launcher workflow start` checks that the phases' agents can run, as `launcher run` does
(app/run/preflight.py): an agent CLI missing from PATH, or a repository program an agent command
names that is not committed, is refused with exit 3 naming the phase, and no workflow is created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git, write_files
from tests.helpers import launcher_cli

ONE_PHASE = """name = "one"
description = "one phase"
keywords = ["one"]
[[phase]]
id = "build"
[[phase.primary]]
role = "builder"
prompt = "build it"
"""


def _configure(repo: Path, command: list[str]) -> None:
    agent = json.dumps(command)
    write_files(
        repo,
        {
            "workflows/one.toml": ONE_PHASE,
            "launcher.toml": (
                f'default_agent = "bot"\n[agents.bot]\nadapter = "command"\ncommand = {agent}\n'
                '[roles]\ndefault = "bot"\n'
            ),
        },
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a command agent")


def _workflows(repo: Path) -> list[object]:
    listed = launcher_cli(repo, "workflow", "list", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    found: list[object] = json.loads(listed.stdout)
    return found


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["no-such-agent-cli-for-a-test", "{prompt}"], "no-such-agent-cli-for-a-test is not on PATH"),
        (["python3", "tools/nothere.py", "{prompt}"], "runs tools/nothere.py, which does not exist"),
    ],
)
def test_start_refuses_a_phase_whose_agent_cannot_run_and_creates_nothing(
    repo: Path, command: list[str], said: str
) -> None:
    _configure(repo, command)
    run = launcher_cli(repo, "run", "--task", "do it", "--quiet")
    assert run.returncode == 3  # what `launcher run` does with the same agent

    started = launcher_cli(repo, "workflow", "start", "one", "--no-run")
    assert started.returncode == 3, started.stdout + started.stderr
    assert "phase build: cannot start the run" in started.stderr and said in started.stderr
    assert "no workflow was created" in started.stderr
    assert _workflows(repo) == []


def test_start_accepts_a_phase_whose_agent_program_is_committed(repo: Path) -> None:
    write_files(repo, {"tools/bot.py": "print('hi')\n"})
    _configure(repo, ["python3", "tools/bot.py", "{prompt}"])
    started = launcher_cli(repo, "workflow", "start", "one", "--no-run")
    assert started.returncode == 0, started.stderr
    assert len(_workflows(repo)) == 1
