"""A `command` or `acp` agent needs the program it runs: without a `command` key it is a plan (or
launcher.toml) error, exit 2, naming `agents.x.command`, listed with the plan's other problems; it
was reported as a missing agent CLI (exit 3, "install the missing agent CLI"). The `--task` hint no
longer offers the bare adapters `command` and `acp`, which can never run as `--agent command`."""

from __future__ import annotations

from pathlib import Path

from helpers import launcher_cli

TASK = '[[task]]\nid = "t"\nagent = "x"\nprompt = "p"\n'


def test_a_command_agent_without_command_is_a_plan_error_listed_with_the_others(repo: Path) -> None:
    plan = repo / "nocmd.toml"
    plan.write_text('[agents.x]\nadapter = "command"\n' + TASK + 'depends_on = ["nope"]\n')

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "nocmd.toml" in done.stderr and "2 problems" in done.stderr
    assert "agents.x.command" in done.stderr and "unknown task 'nope'" in done.stderr
    assert "install" not in done.stderr


def test_an_acp_agent_without_command_in_launcher_toml_is_a_config_error(repo: Path) -> None:
    (repo / "launcher.toml").write_text('[agents.x]\nadapter = "acp"\n')
    plan = repo / "p.toml"
    plan.write_text(TASK)

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "launcher.toml: agents.x.command" in done.stderr


def test_the_task_hint_offers_only_agents_that_can_run_by_name(repo: Path) -> None:
    hint = launcher_cli(repo, "run", "--task", "x")
    assert hint.returncode == 2
    offered = hint.stderr.split("one of: ", 1)[1].split(")", 1)[0].split(", ")
    assert "command" not in offered and "acp" not in offered and "claude" in offered

    bare = launcher_cli(repo, "run", "--task", "x", "--agent", "command")
    assert bare.returncode == 2, bare.stdout + bare.stderr
    assert "'command' is an adapter that needs a command" in bare.stderr
