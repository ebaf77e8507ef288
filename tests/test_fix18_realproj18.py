"""Review 18 (real projects, as a demanding user runs them): toolz and attrs under the launcher.

- Only the built-in scripted agent runs a task's `script`. A plan task (or a workflow's
  `--scripts`) giving steps to a task whose agent is another one (launcher.toml's command agent,
  the repository's default for workflow roles) is a plan error naming the task, the agent and
  the fix, before anything is created: the steps were dropped without a word, the agent ran on
  the prompt alone, and a workflow's first phase "produced nothing".
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli

BOT = '[agents.bot]\nadapter = "command"\ncommand = ["python3", "-c", "print(1)"]\n'


def _with_bot(repo: Path, extra: str = "") -> None:
    (repo / "launcher.toml").write_text(f'default_agent = "bot"\n{extra}\n{BOT}')
    git(repo, "add", "launcher.toml")
    git(repo, "commit", "-q", "-m", "launcher.toml: a command agent")


def test_a_script_on_a_task_whose_agent_is_a_command_agent_is_a_plan_error(repo: Path) -> None:
    _with_bot(repo)
    (repo / "plan.toml").write_text('[[task]]\nid = "x"\nprompt = "x"\nagent = "bot"\n'
                                    'script = [{ write = "a.txt", content = "a" }]\n')

    done = launcher_cli(repo, "run", "plan.toml", "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "task 'x'.script" in done.stderr and "agent 'bot' (adapter command)" in done.stderr, done.stderr
    assert 'set agent = "scripted"' in done.stderr
    assert git(repo, "branch", "--list", "launcher/*") == ""  # nothing created
    assert not (repo / ".launcher" / "runs").exists() or not any((repo / ".launcher" / "runs").iterdir())


def test_a_script_for_the_scripted_agent_or_a_scripted_best_of_attempt_is_still_accepted(repo: Path) -> None:
    _with_bot(repo)
    (repo / "plan.toml").write_text(
        '[[task]]\nid = "x"\nprompt = "x"\nattempts = 2\nattempt_agents = ["scripted", "bot"]\n'
        'script = [{ write = "a.txt", content = "a" }]\n'
        '[[task]]\nid = "y"\nprompt = "y"\nscript = [{ write = "b.txt", content = "b" }]\n')

    done = launcher_cli(repo, "run", "plan.toml", "--quiet", "--no-merge", "--json")

    report = json.loads(done.stdout)
    states = {t["id"]: t["state"] for t in report["tasks"]}
    assert states["y"] == "approved" and states["x"] == "approved", (states, done.stderr)


def test_workflow_scripts_for_roles_that_run_a_command_agent_are_refused_at_start(repo: Path) -> None:
    _with_bot(repo, '[roles]\ndefault = "bot"\n')
    scripts = repo.parent / "scripts.json"
    scripts.write_text(json.dumps({"architecture-expert": [{"write": "docs/plan.md", "content": "# plan\n"}]}))

    done = launcher_cli(repo, "workflow", "start", "feature-development", "-p", "feature=x",
                        "--scripts", str(scripts), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "task 'plan-architecture-expert'.script" in done.stderr, done.stderr
    assert 'map the role to "scripted" under [roles]' in done.stderr
    listed = launcher_cli(repo, "workflow", "list", "--all")
    assert "feature-development" not in listed.stdout  # no workflow was created
