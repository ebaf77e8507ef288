"""Review 18 (real projects, as a demanding user runs them): toolz and attrs under the launcher.

- Only the built-in scripted agent runs a task's `script`. A plan task (or a workflow's
  `--scripts`) giving steps to a task whose agent is another one (launcher.toml's command agent,
  the repository's default for workflow roles) is a plan error naming the task, the agent and
  the fix, before anything is created: the steps were dropped without a word, the agent ran on
  the prompt alone, and a workflow's first phase "produced nothing".
- `mutation fix`'s built-in test writer probes a module of a package that imports its siblings
  relatively (`from ._compat import X`, as attrs' `src/attr/converters.py` does) as the package's
  module: it wrote no test and blocked on "attempted relative import with no known parent package".
- Its probe imports the tree's package without writing bytecode: a project with no .gitignore
  (toolz's sdist) got `__pycache__/*.pyc` in the task's tree, and the kill was refused as
  "changed files outside its scope".
- An agent that dies of a Python exception is reported by that exception first (`agent crashed:
  exit code 1: AssertionError: ...`), then the end of its output: the table and status lines
  cut a long message, and showed the middle of the traceback, never the error.
- `mutation fix` leaves no empty `fix-resettle/` folder in the worktree root, so `clean --all
  --force` removes the repository's own folder under the cache as the README says; `clean --all`
  removes such a folder left empty (`fix-resettle/` of an older launcher, a finished workflow's
  `wf_<id>/` scratch folder, which every workflow with a test command leaves).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from helpers import git, launcher_cli, swept_project

from launcher.app.mutation.fix import FixOptions, fix_survivors

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


def test_mutation_fix_writes_a_killing_test_for_a_src_layout_module_with_relative_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    proj = swept_project(tmp_path / "proj", {
        "src/conv/__init__.py": "from .convert import to_bool\n",
        "src/conv/_words.py": 'TRUTHY = ("yes", "on")\n',
        "src/conv/convert.py": "from ._words import TRUTHY\n\n\ndef to_bool(word):\n"
                               "    return word in TRUTHY or word == 1\n",
        "tests/test_convert.py": "from conv import to_bool\n\n\ndef test_yes():\n    assert to_bool('yes')\n",
        "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    }, ["src/conv/convert.py"])

    summary = anyio.run(fix_survivors, proj, FixOptions(python=sys.executable, all_unjudged=True),
                        lambda _event: None)

    assert summary.killed, summary.refused
    written = sorted(str(p.relative_to(proj)) for p in (proj / "tests").glob("test_kill_*.py"))
    assert written, git(proj, "log", "--oneline")
    assert all("from conv.convert import to_bool" in (proj / w).read_text() for w in written)
    assert "relative import" not in json.dumps([str(r) for r in summary.refused])


def test_the_test_writer_leaves_no_bytecode_in_a_tree_without_a_gitignore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    proj = swept_project(tmp_path / "proj", {
        "calc/__init__.py": "",
        "calc/words.py": 'TRUTHY = ("yes", "on")\n',
        "calc/core.py": "from calc.words import TRUTHY\n\n\ndef to_bool(word):\n"
                        "    return word in TRUTHY or word == 1\n",
        "calc/tests/test_core.py": "from calc.core import to_bool\n\n\ndef test_yes():\n    assert to_bool('yes')\n",
    }, ["calc/core.py"])

    summary = anyio.run(fix_survivors, proj, FixOptions(python=sys.executable, all_unjudged=True),
                        lambda _event: None)

    assert summary.killed and not summary.refused, summary.refused
    assert ".pyc" not in git(proj, "log", "--stat", "--format=")


def test_clean_all_force_after_mutation_fix_leaves_no_folder_of_the_repository_in_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    proj = swept_project(tmp_path / "proj", {
        "calc.py": "def is_adult(age):\n    return age >= 18\n",
        "tests/test_calc.py": "from calc import is_adult\n\n\ndef test_it():\n    assert is_adult(30)\n",
    }, ["calc.py"])
    # one survivor fixed: the other survivors of calc.py are run against its landed test
    survivors = next((proj / ".launcher" / "mutation-runs").glob("*/survivors.jsonl")).read_text().splitlines()
    assert len(survivors) > 1
    first = str(json.loads(survivors[0])["id"])
    summary = anyio.run(fix_survivors, proj, FixOptions(python=sys.executable, ids=[first]),
                        lambda _event: None)
    assert summary.killed, summary.refused

    done = launcher_cli(proj, "clean", "--all", "--force", env={"XDG_CACHE_HOME": str(cache)})

    assert done.returncode == 0, done.stderr
    assert list((cache / "launcher" / "worktrees").iterdir()) == []


CRASHER = '''import sys
def edit(path, depth):
    if depth:
        return edit(path, depth - 1)
    assert False, f"the edit target is missing in {path}"
print("editing README.rst ...")
edit("README.rst", 12)
'''


def test_an_agent_that_dies_of_a_python_exception_is_reported_by_that_exception_first(repo: Path) -> None:
    (repo / "crasher.py").write_text(CRASHER)
    (repo / "plan.json").write_text(json.dumps({
        "agents": {"bot": {"adapter": "command", "command": ["python3", "crasher.py", "{prompt}"]}},
        "task": [{"id": "edit-readme", "prompt": "edit", "agent": "bot"}]}))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a crashing agent")

    done = launcher_cli(repo, "run", "plan.json", "--json")

    message = json.loads(done.stdout)["tasks"][0]["message"]
    raised = "AssertionError: the edit target is missing in README.rst"
    assert message.startswith(f"agent crashed: exit code 1: {raised}; its output ends: "), message
    assert message.rstrip().endswith(raised)  # the end of its output, as before


def test_clean_all_removes_the_empty_scratch_folders_of_workflows_and_older_fixes(
    repo: Path, tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache)}
    (repo / "plan.toml").write_text('[[task]]\nid = "a"\nprompt = "a"\nscript = [{ write = "a.txt", content = "a" }]\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "plan")
    assert launcher_cli(repo, "run", "plan.toml", "--quiet", env=env).returncode == 0
    (own,) = (cache / "launcher" / "worktrees").iterdir()
    (own / "wf_0123abcd4567").mkdir()  # as a completed workflow leaves it
    (own / "fix-resettle").mkdir()  # as `mutation fix` of an older launcher left it

    done = launcher_cli(repo, "clean", "--all", "--force", env=env)

    assert done.returncode == 0, done.stderr
    assert list((cache / "launcher" / "worktrees").iterdir()) == [], done.stdout
