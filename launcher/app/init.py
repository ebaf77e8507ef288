"""`launcher init`: starter files for a repository (never overwrites)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from launcher.gates.rubric import shipped_rubrics_dir
from launcher.git.repo import GitRepo
from launcher.models.config import pyproject_configures, refuse_two_configs
from launcher.store.files import atomic_write_text

LAUNCHER_TOML = '''# launcher repository defaults (see the README, "Repository config")
# worktree_root = "../worktrees"     # default: $XDG_CACHE_HOME/launcher/worktrees/...
# setup = "npm ci"                   # run in each new worktree before its agent, against your
#                                    # shared environment: Python projects need no setup for their
#                                    # own code (never `pip install -e .` here; README, "Repository config")
default_agent = "bot"                # the agent of `launcher run --task "..."` without --agent

# Your agent: a program run in each task's worktree with the task's prompt. A script of this
# repository (tools/bot.py here) must be committed: the worktrees are made from commits.
# It should write its completion contract to $LAUNCHER_CONTRACT (README, "What an agent
# gets"); without one it is run once more, with the error in $LAUNCHER_FEEDBACK.
# Or an agent CLI: adapter = "claude" | "codex" | "gemini" | "aider" | "opencode" (`launcher agents`).
[agents.bot]
adapter = "command"
command = ["python3", "tools/bot.py", "{prompt}"]

[grading]
iteration_cap = 3

[merge]
strategy = "merge"
# integration_check = "python -m pytest"

[mutation]
# judge = "bot"          # the agent `launcher mutation judge` asks (else --agent)
# judge_batch = 25       # survivors per judge call
'''

WORKTREEINCLUDE = '''# Gitignored files to copy into every agent worktree (gitignore syntax).
# A file is copied only if it matches here AND git ignores it. Never committed or merged.
.env
.env.local
'''

PLAN = '''# An example plan: `launcher run plan.example.toml`
[run]
max_parallel = 4

[[task]]
id = "hello"
title = "Say hello"
role = "backend"
agent = "scripted"
prompt = "Create hello.txt"
script = [{ write = "hello.txt", content = "hello\\n" }]
'''


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _write(path: Path, text: str, mode: int) -> None:
    """Like any file the user creates (atomic writes are private temporary files at first)."""
    atomic_write_text(path, text)
    path.chmod(mode)


@dataclass
class InitResult:
    written: list[str]
    # [tool.launcher] of pyproject.toml configures the repository: no launcher.toml was written
    # (it would hide that table; the launcher refuses to read either while both exist)
    in_pyproject: bool = False


async def init_repo(cwd: Path) -> InitResult:
    repo = await GitRepo.discover(cwd)
    # Both configs: neither is read, so "edit launcher.toml" would be advice that changes nothing.
    # Refused before anything is written, with the error every command reading the config gives.
    refuse_two_configs(repo.root)
    mode = 0o666 & ~_umask()
    written: list[str] = []
    in_pyproject = not (repo.root / "launcher.toml").exists() and pyproject_configures(repo.root)
    for name, text in (("launcher.toml", LAUNCHER_TOML), (".worktreeinclude", WORKTREEINCLUDE),
                       ("plan.example.toml", PLAN)):
        path = repo.root / name
        if path.exists() or (name == "launcher.toml" and in_pyproject):
            continue
        _write(path, text, mode)
        written.append(name)
    # The shipped rubrics, to edit: a repo's rubrics/ wins over the defaults.
    for rubric in sorted(shipped_rubrics_dir().glob("*.md")):
        target = repo.root / "rubrics" / rubric.name
        if not target.exists():
            _write(target, rubric.read_text(encoding="utf-8"), mode)
            written.append(f"rubrics/{rubric.name}")
    # The judge's starter calibration set and prompt, to replace with labelled survivors of this code.
    shipped_mutation = Path(str(resources.files("launcher") / "data" / "mutation"))
    for name in ("calibration-set.json", "judge-prompt.md"):
        target = repo.root / "mutation" / name
        if not target.exists():
            _write(target, (shipped_mutation / name).read_text(encoding="utf-8"), mode)
            written.append(f"mutation/{name}")
    return InitResult(written, in_pyproject)


PYPROJECT_NOTE = ("not written: launcher.toml (pyproject.toml's [tool.launcher] configures the launcher here; "
                  "a launcher.toml beside it would hide it, so the launcher refuses to run with both)")


def next_steps(in_pyproject: bool = False) -> list[str]:
    """What to do after `launcher init`, in order (printed by the command)."""
    first = (["  1. Define your agent in [tool.launcher] of pyproject.toml ([tool.launcher.agents.<name>] and",
              "     default_agent), or use an agent CLI (`launcher agents` lists what is installed)."]
             if in_pyproject else
             ["  1. Edit [agents.bot] in launcher.toml: the program that does a task ({prompt} is its text),",
              "     or use an agent CLI (`launcher agents` lists what is installed)."])
    return [
        "Next:",
        *first,
        "  2. Commit the starter files and your agent's script: agents work in worktrees made from commits.",
        "       git add -A && git commit -m \"launcher: starter config\"",
        "  3. Run the example plan, or tasks of your own with default_agent:",
        "       launcher run plan.example.toml",
        "       launcher run --task \"describe a change\"",
        "  4. Then: launcher status, launcher logs RUN TASK, launcher clean",
    ]
