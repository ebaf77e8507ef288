"""What a user sees when the command line itself is wrong or stopped: usage errors caught by the
option parser, Ctrl-C of a command that is not a run, a demo asked for twice. The real CLI, in
a real repository in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import launcher_cli

PLAN = '[[task]]\nid = "a"\nagent = "scripted"\nprompt = "x"\nscript = [{ write = "a.txt", content = "a" }]\n'


@pytest.mark.parametrize(("args", "named"), [
    (["run", "plan.toml", "--json", "--max-parallel", "0"], "--max-parallel"),
    (["run", "plan.toml", "--json", "--on-cap", "maybe"], "--on-cap"),
    (["run", "plan.toml", "--json", "--bogus-flag"], "--bogus-flag"),
    (["status", "--json", "--all", "extra", "args"], "extra"),
    (["mutation", "sweep", "--json", "--workers", "many"], "--workers"),
])
def test_a_usage_error_of_the_option_parser_is_the_json_envelope_with_json(
        repo: Path, args: list[str], named: str) -> None:
    # README: exit 2 is "a structured message, also as JSON with --json", whoever found the error.
    (repo / "plan.toml").write_text(PLAN)
    done = launcher_cli(repo, *args)
    assert done.returncode == 2, done.stderr
    envelope = json.loads(done.stdout)  # one envelope, nothing else on stdout
    assert envelope["ok"] is False and envelope["error_key"] == "usage"
    assert named in envelope["observations"]
    assert "--help" in envelope["usage"]
    assert named in done.stderr  # the human message stays on stderr
    assert not (repo / ".launcher").exists()  # refused before anything was made


def test_without_json_a_usage_error_prints_nothing_on_stdout(repo: Path) -> None:
    (repo / "plan.toml").write_text(PLAN)
    done = launcher_cli(repo, "run", "plan.toml", "--max-parallel", "0")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "--max-parallel" in done.stderr
