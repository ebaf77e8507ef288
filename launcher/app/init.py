"""`launcher init`: starter files for a repository (never overwrites)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from launcher.gates.rubric import shipped_rubrics_dir
from launcher.git.repo import GitRepo
from launcher.store.files import atomic_write_text

LAUNCHER_TOML = '''# launcher repository defaults (see the README, "Repository config")
# worktree_root = "../worktrees"     # default: $XDG_CACHE_HOME/launcher/worktrees/...
# setup = "python -m pip install -e ."   # run in each new worktree before its agent

[agents.bot]
adapter = "command"
command = ["python3", "tools/bot.py", "{prompt}"]

[grading]
iteration_cap = 3

[merge]
strategy = "merge"
# integration_check = "python -m pytest -q"

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


async def init_repo(cwd: Path) -> list[str]:
    repo = await GitRepo.discover(cwd)
    written = []
    for name, text in (("launcher.toml", LAUNCHER_TOML), (".worktreeinclude", WORKTREEINCLUDE),
                       ("plan.example.toml", PLAN)):
        path = repo.root / name
        if path.exists():
            continue
        atomic_write_text(path, text)
        written.append(name)
    # The shipped rubrics, to edit: a repo's rubrics/ wins over the defaults.
    for rubric in sorted(shipped_rubrics_dir().glob("*.md")):
        target = repo.root / "rubrics" / rubric.name
        if not target.exists():
            atomic_write_text(target, rubric.read_text(encoding="utf-8"))
            written.append(f"rubrics/{rubric.name}")
    # The judge's starter calibration set and prompt, to replace with labelled survivors of this code.
    shipped_mutation = Path(str(resources.files("launcher") / "data" / "mutation"))
    for name in ("calibration-set.json", "judge-prompt.md"):
        target = repo.root / "mutation" / name
        if not target.exists():
            atomic_write_text(target, (shipped_mutation / name).read_text(encoding="utf-8"))
            written.append(f"mutation/{name}")
    return written
