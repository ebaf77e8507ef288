"""Agent tables mean what the user wrote and are refused only with the fix that applies.

- permission_mode: every mode each CLI documents for the way the launcher runs it is accepted
  and reaches the program (Gemini CLI's read-only `--approval-mode plan` was refused); a value
  the adapter cannot enforce is refused naming what it accepts (codex's approval policies:
  `codex exec` never asks, the mode is its sandbox).
- The shared git configuration is refused for a credential in a place that carries one, never
  for a name: a helper that asks a password manager with backticks, a tracked branch called
  `glrt-runner-...`, a sticky-session header run; a key shown masked names its section and how to
  list it.
- An `[agents.<name>]` table that leaves out `adapter` is a command agent; one named after a
  built-in adapter with no command (`[agents.claude] model = "opus"`) is told to add
  `adapter = "claude"`, not to give it a `python3 tools/bot.py` command.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import git, launcher_cli, run_one_command_agent, shared_credentials_problem

from launcher.models.plan_schema import AgentConfig

TASK = '[[task]]\nid = "t1"\nagent = "{agent}"\nprompt = "x"\n'

DOCUMENTED = [
    ("claude", mode) for mode in ("default", "manual", "acceptEdits", "plan", "auto", "dontAsk", "bypassPermissions")
] + [
    ("codex", mode) for mode in ("read-only", "workspace-write", "danger-full-access", "bypassPermissions")
] + [
    ("gemini", mode) for mode in ("default", "auto_edit", "yolo", "plan")
] + [
    (adapter, mode) for adapter in ("opencode", "acp")
    for mode in ("default", "allow", "acceptEdits", "bypassPermissions")
]


@pytest.mark.parametrize(("adapter", "mode"), DOCUMENTED)
def test_every_documented_permission_mode_of_an_adapter_is_accepted(adapter: str, mode: str) -> None:
    config = {"adapter": adapter, "permission_mode": mode}
    if adapter == "acp":
        config["command"] = ["agent", "--acp"]

    assert AgentConfig.model_validate(config).permission_mode == mode


def _fake_cli(tmp_path: Path, name: str) -> tuple[dict[str, str], Path]:
    """A `name` program on PATH that records its arguments, one a line, and fails."""
    folder, seen = tmp_path / "bin", tmp_path / "argv.txt"
    folder.mkdir()
    program = folder / name
    program.write_text(f'#!/bin/sh\n[ "$1" = --version ] && {{ echo 0.30.0; exit 0; }}\n'
                       f'for a in "$@"; do printf "%s\\n" "$a"; done > {seen}\nexit 1\n')
    program.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}, seen


def test_gemini_plan_mode_runs_gemini_with_approval_mode_plan(repo: Path, tmp_path: Path) -> None:
    env, seen = _fake_cli(tmp_path, "gemini")
    plan = repo / "p.toml"
    plan.write_text('[agents.g]\nadapter = "gemini"\npermission_mode = "plan"\n' + TASK.format(agent="g"))

    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet", env=env)

    assert "permission_mode" not in done.stderr, done.stderr
    argv = seen.read_text().splitlines()
    assert argv[argv.index("--approval-mode") + 1] == "plan"


@pytest.mark.parametrize("policy", ["on-request", "never", "untrusted", "on-failure"])
def test_a_codex_approval_policy_is_refused_saying_the_mode_is_its_sandbox(repo: Path, policy: str) -> None:
    plan = repo / "p.toml"
    plan.write_text(f'[agents.c]\nadapter = "codex"\npermission_mode = "{policy}"\n' + TASK.format(agent="c"))

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "agents.c.permission_mode" in done.stderr
    assert "'read-only', 'workspace-write', 'danger-full-access', 'bypassPermissions'" in done.stderr
    assert "approval policy" in done.stderr and "sandbox" in done.stderr


def test_another_clis_spelling_of_a_mode_is_refused_naming_the_adapters_own(repo: Path) -> None:
    plan = repo / "p.toml"
    plan.write_text('[agents.g]\nadapter = "gemini"\npermission_mode = "acceptEdits"\n' + TASK.format(agent="g"))

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "'default', 'auto_edit', 'yolo', 'plan'" in done.stderr
    assert "gemini calls it 'auto_edit'" in done.stderr


@pytest.mark.parametrize("table", ["claude", "codex", "gemini", "aider", "opencode"])
def test_a_table_named_after_an_adapter_without_adapter_key_is_told_to_add_it(repo: Path, table: str) -> None:
    plan = repo / "p.toml"
    plan.write_text(f'[agents.{table}]\nmodel = "some-model"\n' + TASK.format(agent=table))

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert f'add adapter = "{table}"' in done.stderr
    assert f"agents.{table}.adapter" in done.stderr and "sets no adapter" in done.stderr
    assert "agents.claude.command" not in done.stderr


def test_the_same_in_launcher_toml_and_with_a_permission_mode_of_that_adapter(repo: Path) -> None:
    (repo / "launcher.toml").write_text('[agents.claude]\nmodel = "opus"\npermission_mode = "plan"\n')
    plan = repo / "p.toml"
    plan.write_text(TASK.format(agent="claude"))

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "launcher.toml" in done.stderr and 'add adapter = "claude"' in done.stderr
    assert "has no permission modes" not in done.stderr  # not "remove it": it is claude's mode


def test_a_table_named_for_an_adapter_among_other_words_is_told_that_adapter(repo: Path) -> None:
    plan = repo / "p.toml"
    plan.write_text('[agents.codex-o3]\nmodel = "o3"\n' + TASK.format(agent="codex-o3"))

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert 'add adapter = "codex"' in done.stderr


def test_any_other_table_without_adapter_or_command_is_given_both_ways(repo: Path) -> None:
    plan = repo / "p.toml"
    plan.write_text('[agents.bot]\nmodel = "m"\n' + TASK.format(agent="bot"))

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert 'add adapter = "<name>"' in done.stderr and "claude, codex, gemini" in done.stderr
    assert 'command = ["python3", "tools/bot.py", "{prompt}"]' in done.stderr


def test_a_command_agent_named_like_an_adapter_runs_its_command(repo: Path, tmp_path: Path) -> None:
    seen = tmp_path / "ran"
    plan = repo / "p.toml"
    plan.write_text(f'[agents.claude]\ncommand = ["sh", "-c", "touch {seen}", "{{prompt}}"]\n'
                    + TASK.format(agent="claude"))

    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet")

    assert "adapter" not in done.stderr, done.stderr
    assert seen.exists()


def test_an_explicit_command_adapter_without_command_still_names_both_problems(repo: Path) -> None:
    plan = repo / "p.toml"
    plan.write_text('[agents.bot]\nadapter = "command"\npermission_mode = "plan"\n' + TASK.format(agent="bot"))

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "agents.bot.command" in done.stderr and "has no command" in done.stderr
    assert "agents.bot.permission_mode" in done.stderr and "has no permission modes" in done.stderr


# -- the shared git configuration ---------------------------------------------------------------

BACKTICK_HELPER = ('!f() { test "$1" = get && echo username=me && '
                   "echo password=`pass show git.example.com`; }; f")
BRANCH = "glrt-runner-registration-rework"

NOT_CREDENTIALS = [
    ("credential.https://git.example.com.helper", BACKTICK_HELPER),
    ("credential.helper", "!f() { echo username=me; printf 'password=%s\\n' \"$GIT_PASSWORD\"; }; f"),
    ("credential.helper", '!f() { echo username=me; echo password="$(pass show git)"; }; f'),
    (f"branch.{BRANCH}.remote", "origin"),
    (f"branch.{BRANCH}.merge", f"refs/heads/{BRANCH}"),
    ("branch.glpat-abcdefghijklmnop.description", "glpat-abcdefghijklmnop: the token rotation work"),
    (f"remote.{BRANCH}.url", f"https://gitlab.example/group/{BRANCH}.git"),
    (f"remote.{BRANCH}.fetch", f"+refs/heads/*:refs/remotes/{BRANCH}/*"),
    ("alias.glpat-abcdefghijklmn", "log --oneline"),
    ("http.extraheader", "X-Session-Affinity: node-3"),
    ("http.extraheader", "X-Monkey-Patch: on"),
    ("http.https://gitlab.example/glrt-abcdefghijklmnop/.sslVerify", "true"),
]

STILL_CREDENTIALS = [
    ("credential.helper", '!f() { echo username=me; echo password="hunter2hunter2"; }; f'),
    ("credential.helper", "!f() { echo username=me; echo password=ghp_abcdefghijklmnop; }; f"),
    ("http.extraheader", "X-Session-Token: 0123456789abcdef"),
    ("http.extraheader", "X-Goog-Api-Key: 0123456789abcdef"),
    ("http.extraheader", "X-Trace: ghp_abcdefghijklmnop"),
    ("remote.origin.url", "https://gitlab.example/o/r.git?private_token=glpat-abcdefghijklmnop"),
    ("remote.origin.url", "ghp_abcdefghijklmnop@github.com:OWNER/REPO.git"),
    ("github.pat", "ghp_abcdefghijklmnop"),
]


_check = shared_credentials_problem


@pytest.mark.parametrize(("key", "value"), NOT_CREDENTIALS)
def test_a_name_a_computed_password_or_an_ordinary_header_is_no_credential(repo: Path, key: str, value: str) -> None:
    git(repo, "config", "--local", key, value)

    refused = _check(repo)

    assert refused is None, refused.message if refused else ""


@pytest.mark.parametrize(("key", "value"), STILL_CREDENTIALS)
def test_a_secret_in_a_place_that_carries_one_is_still_refused(repo: Path, key: str, value: str) -> None:
    git(repo, "config", "--local", key, value)

    refused = _check(repo)

    assert refused is not None, f"{key}={value} was not refused"
    for secret in ("hunter2", "0123456789abcdef", "ghp_abcdef", "glpat-abcdef"):
        assert secret not in refused.message


def test_a_key_shown_masked_names_its_section_and_how_to_list_it(repo: Path) -> None:
    git(repo, "config", "--local", "url.https://x-access-token:ghs_FAKEtoken1234567890@github.com/.insteadOf",
        "https://github.com/")

    refused = _check(repo)

    assert refused is not None
    assert "url.https://***@github.com/.insteadof (.git/config)" in refused.message
    assert '[url "..."] section' in refused.message
    assert "`git config --show-origin --get-regexp '^url[.]'`" in refused.message
    assert "ghs_FAKE" not in refused.message


def test_a_run_with_a_backtick_helper_and_a_glrt_branch_runs_its_agent(repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "--local", "credential.https://git.example.com.helper", BACKTICK_HELPER)
    git(repo, "config", "--local", f"branch.{BRANCH}.remote", "origin")
    git(repo, "config", "--local", f"branch.{BRANCH}.merge", f"refs/heads/{BRANCH}")
    git(repo, "config", "--local", "http.extraheader", "X-Session-Affinity: node-3")

    done = run_one_command_agent(repo, tmp_path, f"touch {tmp_path / 'ran'}\nexit 1")

    assert "holds a credential" not in done.stderr, done.stderr
    assert (tmp_path / "ran").exists()  # the agent ran
