"""An agent that runs `git init` in a sub-directory and commits there made a nested repository,
not a submodule change: the task fails naming the repository it made (`nested_repository`), its
files stay in the kept worktree, and nothing sends the user to a submodule that does not exist."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli

INIT = (
    "git init -q nest && cd nest && echo n > n && git add n && git -c user.name=a -c user.email=a@a commit -qm n "
    "&& cd .."
)


def _run(repo: Path, script: str) -> dict[str, object]:
    (repo / "plan.toml").write_text(
        '[agents.sh]\nadapter = "command"\ncommand = ["sh", "-c", ' + json.dumps(script) + ', "{prompt}"]\n'
        '[[task]]\nid = "nest"\nagent = "sh"\nprompt = "x"\n'
    )
    git(repo, "add", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")
    done = launcher_cli(repo, "run", "plan.toml", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    (task,) = json.loads(done.stdout)["tasks"]
    assert task["state"] == "failed"
    message = str(task["message"])
    assert "nested repository, not a submodule" in message and "nest/" in message
    assert "changed the commit of submodule" not in message and "submodule's own repository" not in message
    return dict(task)


def test_a_repository_the_agent_made_and_committed_in_is_named_as_one(repo: Path) -> None:
    task = _run(repo, INIT + " && echo y > y.txt")
    assert "with commits of its own" in str(task["message"])
    branch = str(task["branch"])
    assert git(repo, "ls-tree", "-r", "--name-only", branch).split() == [
        ".gitignore",
        "README.md",
        "app.py",
        "plan.toml",
        "y.txt",
    ]  # the rest is committed, not nest
    kept = launcher_cli(repo, "clean")
    assert "nest" in kept.stdout and Path(str(task["worktree"]), "nest", "n").is_file()


def test_a_repository_the_agent_made_and_added_as_a_gitlink_is_named_as_one(repo: Path) -> None:
    # a corrective round (no contract) runs it again: the second time it finds its work done
    commit = " && git add nest && git -c user.name=a -c user.email=a@a commit -qm nest"
    task = _run(repo, "[ -e nest ] || { " + INIT + commit + "; }")
    assert "committed a git repository it made inside its worktree (nest/" in str(task["message"])
