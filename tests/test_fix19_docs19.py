"""The README's promises against what the CLI does (review19 docs19): each test drives the real
CLI on a real repository in tmp_path, following the README as written."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

from helpers import launcher_cli
from swept import project

README = Path(__file__).resolve().parent.parent / "README.md"

CALC = {
    "calc/__init__.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    ".gitignore": ".venv/\n",
}


def _readme_mutation_table() -> str:
    """The README's `[mutation]` example, as its toml block shows it."""
    found = re.search(r"```toml\n(\[mutation\][^`]*?)```", README.read_text())
    assert found, "the README shows a [mutation] table"
    return found.group(1)


# 01: `[mutation] python = ".venv/bin/python"` (the README's example) was used as a relative path
# from the worker trees, where no .venv is: the sweep died "cannot start '.venv/bin/python'".

def test_the_readme_mutation_table_with_a_relative_python_sweeps_from_the_root_and_a_subfolder(
        tmp_path: Path) -> None:
    root = project(tmp_path / "p", {**CALC, "launcher.toml": _readme_mutation_table().replace(
        'pytest_args = ["-m", "not slow"]\n', "")})  # (no `slow` marker in this project)
    assert 'python = ".venv/bin/python"' in (root / "launcher.toml").read_text()
    venv_python = root / ".venv" / "bin" / "python"  # the project's own venv: here, this interpreter
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    venv_python.chmod(venv_python.stat().st_mode | stat.S_IXUSR)
    env = {"VIRTUAL_ENV": "", "PATH": os.environ["PATH"]}
    done = launcher_cli(root, "mutation", "sweep", "calc", "--workers", "1", timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"with {venv_python}" in done.stdout + done.stderr  # made absolute against the root
    (root / "sub").mkdir()
    again = launcher_cli(root / "sub", "mutation", "sweep", "calc", "--workers", "1", timeout=300, env=env)
    assert "cannot start" not in again.stdout + again.stderr


def test_a_missing_mutation_python_is_named_as_the_config_key_not_as_a_flag(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {**CALC, "launcher.toml": '[mutation]\npython = ".venv/bin/nope"\n'})
    done = launcher_cli(root, "mutation", "sweep", "calc")
    assert done.returncode == 2, done.stderr
    assert f"[mutation] python in {root / 'launcher.toml'}" in done.stderr
    assert str(root / ".venv" / "bin" / "nope") in done.stderr
    assert not done.stderr.startswith("error: --python")


# 02: `launcher mutation fix --python .venv/bin/python` passed the relative path on to the kill
# gate, which runs the tests from a copy beside the task's worktree: every task failed with
# "FileNotFoundError: ... '.venv/bin/python'" and no survivor was killed.

WEAK = {
    "calc/__init__.py": "def mul(a, b):\n    return a * b\n",
    "tests/test_calc.py": "from calc import mul\n\n\ndef test_mul():\n    assert mul(1, 1) == 1\n",
    ".gitignore": ".venv/\n",
}


def _venv_python(root: Path) -> Path:
    """The project's `.venv/bin/python` (git-ignored): here, this interpreter."""
    venv_python = root / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    venv_python.chmod(venv_python.stat().st_mode | stat.S_IXUSR)
    return venv_python


def test_mutation_fix_takes_a_relative_python_from_where_it_runs_as_a_sweep_does(tmp_path: Path) -> None:
    root = project(tmp_path / "p", WEAK)
    _venv_python(root)
    env = {"VIRTUAL_ENV": ""}
    swept = launcher_cli(root, "mutation", "sweep", "calc", "--workers", "1", "--operators", "arithmetic",
                         "--python", ".venv/bin/python", timeout=300, env=env)
    assert swept.returncode == 0 and "Survived 1" in swept.stdout, swept.stdout + swept.stderr
    fixed = launcher_cli(root, "mutation", "fix", "--all", "--python", ".venv/bin/python", timeout=600, env=env)
    out = fixed.stdout + fixed.stderr
    assert "No such file or directory: '.venv/bin/python'" not in out
    assert fixed.returncode == 0, out
    assert "1 survivor(s) killed by new tests" in out


# 03: `launcher mutation sweep __init__.py` typed in the package's folder said "no such path" and
# "pass files or directories in the repo": the file is there; PATHS are the root's, unsaid.

def test_a_sweep_path_given_from_a_sub_folder_is_named_in_the_roots_terms(tmp_path: Path) -> None:
    root = project(tmp_path / "p", CALC)
    done = launcher_cli(root / "calc", "mutation", "sweep", "__init__.py", "--dry-run")
    assert done.returncode == 2, done.stderr
    assert "relative to the repository's root" in done.stderr
    assert "pass calc/__init__.py" in done.stderr
    nowhere = launcher_cli(root / "calc", "mutation", "sweep", "nowhere.py", "--dry-run")
    assert nowhere.returncode == 2 and f"relative to the repository's root ({root})" in nowhere.stderr


# 04: mutation/README.md (shipped as launcher/data/mutation/README.md) said "A model chosen in a
# CLI's own configuration file (Codex's, opencode's) is not seen", while the gate records and
# compares those settings (gates/judge_model_files.py), as the README says.

def test_the_mutation_readme_says_the_clis_own_model_settings_are_part_of_the_judge() -> None:
    from launcher.gates import judge_model_files

    top = Path(__file__).resolve().parent.parent
    for readme in (top / "mutation" / "README.md", top / "launcher" / "data" / "mutation" / "README.md"):
        text = " ".join(readme.read_text().split())
        assert "is not seen" not in text, readme
        for said in ("Codex's config.toml", "opencode's `opencode.json`", "Claude Code's settings.json"):
            assert said in text, (readme, said)
    for spelled in ("config.toml", "opencode.json", "settings.json"):
        assert spelled in (judge_model_files.__doc__ or "")


# 05: the starter launcher.toml says "never `pip install -e .` here; README, "Repository config"",
# and that section said nothing of it (the warning was only under "Plan format").

def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n### {title}\n")
    return text[start:text.index("\n##", start + 1)]


def test_the_readme_section_the_starter_config_names_warns_against_an_editable_install(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"README": "hi\n"})
    assert launcher_cli(root, "init").returncode == 0
    config = (root / "launcher.toml").read_text()
    named = re.findall(r'README, "([^"]+)"', config)
    assert "Repository config" in named
    line = next(line for line in config.splitlines() if "pip install -e ." in line)
    assert 'README, "Repository config"' in line
    section = " ".join(_section("Repository config").split())
    assert "never `pip install -e .` there" in section


# 06: after `launcher clean --older-than 0` removed a landed run's leftovers, `launcher grade RUN
# TASK` of its merged task said "has no branch to grade / Fix: run it first": the task ran and landed.

def test_grade_of_a_landed_task_says_it_landed_also_after_clean(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"README": "hi\n"})
    plan = tmp_path / "plan.toml"
    plan.write_text('[[task]]\nid = "hello"\nagent = "scripted"\nprompt = "p"\n'
                    'script = [{ write = "hello.txt", content = "hello\\n" }]\n')
    ran = launcher_cli(root, "run", str(plan), "--json")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    assert launcher_cli(root, "clean", run_id, "--older-than", "0").returncode == 0
    graded = launcher_cli(root, "grade", run_id, "hello")
    assert graded.returncode == 2
    assert "has already landed" in graded.stderr and "run it first" not in graded.stderr


# 07: an agent gets $LAUNCHER_PACKET (what `{packet}` fills), which the README's list of the
# variables an agent gets left out.

ENV_BOT = '''import json, os, pathlib
task = os.environ["LAUNCHER_TASK_ID"]
names = sorted(k for k in os.environ if k.startswith("LAUNCHER_"))
pathlib.Path(task + ".txt").write_text("\\n".join(names) + "\\n")
pathlib.Path(os.environ["LAUNCHER_CONTRACT"]).write_text(json.dumps({
    "contract_version": "1", "task_id": task, "status": "done", "summary": "s",
    "files_changed": [task + ".txt"], "tests_added": [], "decisions": [], "blockers": [],
    "llm_observations": "the variables it got"}))
'''


def test_every_launcher_variable_an_agent_gets_is_named_where_the_readme_lists_them(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {
        "tools/env_bot.py": ENV_BOT,
        "launcher.toml": f'[agents.envbot]\ncommand = ["{sys.executable}", "tools/env_bot.py", "{{prompt}}"]\n'})
    done = launcher_cli(root, "run", "--task", "list them", "--agent", "envbot")
    assert done.returncode == 0, done.stderr
    got = (root / "task-1.txt").read_text().split()
    assert "LAUNCHER_PACKET" in got
    section = _section("What an agent gets")
    assert [name for name in got if f"`{name}`" not in section] == []


# 08: "Defaults go in a table, flags win", yet `--test-cmd` beside the README's `[mutation]
# pytest_args` was refused, and `--pytest-args` beside a table's `test_cmd` was refused telling
# the user to "drop --test-cmd", a flag they never gave.

def _swept_with(root: Path, *flags: str) -> str:
    done = launcher_cli(root, "mutation", "sweep", "calc", "--workers", "1", "--max-mutants", "1",
                        "--python", sys.executable, *flags, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_a_test_command_flag_wins_over_the_tables_pytest_args(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {**CALC, "launcher.toml": '[mutation]\npytest_args = ["-m", "not slow"]\n'})
    out = _swept_with(root, "--test-cmd", f"{sys.executable} -m pytest -q")
    assert "do not go together" not in out


def test_a_pytest_args_flag_wins_over_the_tables_test_command(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {**CALC, "launcher.toml": '[mutation]\ntest_cmd = "false"\n'})
    out = _swept_with(root, "--pytest-args", "-k add")
    assert "Killed 1" in out  # pytest ran with the flag's arguments, not the table's `false`


def test_both_kinds_together_are_refused_naming_where_they_come_from(tmp_path: Path) -> None:
    both = '[mutation]\ntest_cmd = "make test"\npytest_args = ["-q"]\n'
    root = project(tmp_path / "p", {**CALC, "launcher.toml": both})
    done = launcher_cli(root, "mutation", "sweep", "calc", "--python", sys.executable)
    assert done.returncode == 2 and f"[mutation] pytest_args / test_cmd in {root / 'launcher.toml'}" in done.stderr
    assert "drop --test-cmd" not in done.stderr
    flags = launcher_cli(root, "mutation", "sweep", "calc", "--python", sys.executable,
                         "--test-cmd", "make test", "--pytest-args", "-q")
    assert flags.returncode == 2 and "--pytest-args / --test-cmd" in flags.stderr


# 09: "`2` usage ... (a structured message, also as JSON with `--json`)": `workflow analyze`,
# `workflow suggest` and `agents` printed their errors as text only, nothing on stdout.

def test_workflow_analyze_suggest_and_agents_print_their_errors_as_json_under_json(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"launcher.toml": 'default_agent = "a"\n',
                                    "pyproject.toml": '[tool.launcher]\ndefault_agent = "b"\n'})
    for args in (("workflow", "analyze", "", "--json"), ("workflow", "suggest", "", "--json"), ("agents", "--json")):
        done = launcher_cli(root, *args)
        assert done.returncode == 2, (args, done.stderr)
        envelope = json.loads(done.stdout)
        assert envelope["ok"] is False and envelope["error_key"], args
