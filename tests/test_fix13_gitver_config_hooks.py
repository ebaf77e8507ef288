"""The launcher's own git runs no hook, whatever git version: git 2.54 and later also run hooks
named in the config (`hook.<name>.event` + `hook.<name>.command`, in the user's global config
or the repository's), which `core.hooksPath=/dev/null` does not switch off. A user's
`pre-commit` or `reference-transaction` hook must not run (nor fail a landing) on the commits
and ref moves the launcher makes; an agent's hook in the shared config must not run in the
launcher's git. (With a git older than 2.54 there are no config hooks: these pass trivially.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import anyio
from helpers import git, launcher_cli

from launcher.git.repo import GitRepo, git_env

EVENTS = ("pre-commit", "commit-msg", "post-commit", "reference-transaction", "post-checkout",
          "post-merge", "post-index-change")


def _global_config_with_hooks(tmp_path: Path, marker: Path) -> Path:
    config = tmp_path / "global.gitconfig"
    lines = ["[user]\n\tname = t\n\temail = t@t\n"]
    for event in EVENTS:
        lines.append(f'[hook "mark-{event}"]\n\tevent = {event}\n'
                     f'\tcommand = echo {event} >> {marker}\n')
    config.write_text("".join(lines))
    return config


def test_the_launchers_git_runs_no_hook_named_in_the_repositorys_config(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "hooks-ran.txt"
    for event in EVENTS:
        git(repo, "config", f"hook.agents-{event}.event", event)
        git(repo, "config", f"hook.agents-{event}.command", f"echo {event} >> {marker}")

    async def commit() -> None:
        git_repo = await GitRepo.discover(repo)
        (repo / "new.txt").write_text("x\n")
        await git_repo.git("add", "new.txt")
        await git_repo.git("commit", "-q", "-m", "launcher's commit")
        await git_repo.git("update-ref", "refs/heads/side", "HEAD")

    anyio.run(commit)
    assert not marker.exists(), f"hooks ran in the launcher's git: {marker.read_text()}"
    # The same commit by a git without the launcher's settings runs them (a git that knows config
    # hooks at all): the hooks above are real.
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "user's"], cwd=repo, check=True,
                   env={**git_env(), "GIT_CONFIG_COUNT": "0"})
    if _git_version() >= (2, 54):
        assert "pre-commit" in marker.read_text()


def _git_version() -> tuple[int, int]:
    out = subprocess.run(["git", "--version"], capture_output=True, text=True, check=True).stdout
    major, minor = re.search(r"(\d+)\.(\d+)", out).groups()  # type: ignore[union-attr]
    return int(major), int(minor)


def test_a_run_lands_without_running_the_users_global_config_hooks(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "hooks-ran.txt"
    config = _global_config_with_hooks(tmp_path, marker)
    (repo / "plan.toml").write_text(
        '[agents.sh]\nadapter = "command"\ncommand = ["sh", "-c", "echo hi > small.txt", "{prompt}"]\n'
        '[[task]]\nid = "t1"\nagent = "sh"\nprompt = "x"\n'
    )
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")
    marker.unlink(missing_ok=True)

    done = launcher_cli(repo, "run", "plan.toml", "--quiet", env={"GIT_CONFIG_GLOBAL": str(config)})

    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / "small.txt").read_text() == "hi\n"  # landed
    assert not marker.exists(), f"the user's config hooks ran in the launcher's git: {marker.read_text()}"
