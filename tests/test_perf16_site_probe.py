"""The user's site directories are asked once per interpreter: `python` and `python3` of one
venv are links to one file there (each question is a Python start before the first task's
command may run)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio

from launcher.engine.site_installs import _site_dirs


def _fake_python(bin_dir: Path, asked: Path, site: Path) -> Path:
    bin_dir.mkdir(parents=True)
    python3 = bin_dir / "python3"
    python3.write_text(f"#!/bin/sh\necho \"$0\" >> {asked}\necho '{json.dumps([str(site), str(site), str(site)])}'\n")
    python3.chmod(0o755)
    os.symlink("python3", bin_dir / "python")
    return python3


def test_python_and_python3_of_one_venv_are_asked_once(tmp_path: Path) -> None:
    asked, site = tmp_path / "asked.txt", tmp_path / "site-packages"
    site.mkdir()
    _fake_python(tmp_path / "venv" / "bin", asked, site)
    env = {"PATH": str(tmp_path / "venv" / "bin")}

    found = anyio.run(_site_dirs, env)

    assert found == [site]
    assert len(asked.read_text().splitlines()) == 1


def test_the_same_file_linked_from_another_directory_is_asked_again(tmp_path: Path) -> None:
    asked, site = tmp_path / "asked.txt", tmp_path / "site-packages"
    site.mkdir()
    real = _fake_python(tmp_path / "venv" / "bin", asked, site)
    other = tmp_path / "other"
    other.mkdir()
    os.symlink(real, other / "python3")  # a venv is found next to the name that ran: may answer otherwise
    env = {"PATH": f"{other}{os.pathsep}{tmp_path / 'venv' / 'bin'}"}

    anyio.run(_site_dirs, env)

    assert len(asked.read_text().splitlines()) == 2


# --- one command discovers its repository once ---------------------------------------------


def test_a_run_discovers_its_repository_once_and_still_lands(tmp_path: Path) -> None:
    from helpers import commit_shell_plan, git, git_on_path, launcher_cli

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("x\n")
    git(repo, "add", "README")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    commit_shell_plan(repo, "echo done > out.txt")
    log = tmp_path / "git.log"
    env = git_on_path(tmp_path, f'echo "$*" >> {log}')

    done = launcher_cli(repo, "run", "plan.toml", "--quiet", env=env)

    assert done.returncode == 0, done.stderr
    assert (repo / "out.txt").read_text() == "done\n"  # landed: the kept answer is the real repository
    asked = [line for line in log.read_text().splitlines() if line.startswith("rev-parse --show-toplevel")]
    assert len(asked) == 1, asked


def test_outside_a_command_each_discovery_asks_git(tmp_path: Path) -> None:
    """A long-lived process (the MCP server) never answers from memory: the repository may move."""
    from helpers import git

    from launcher.git.discovery_memo import discovery_kept
    from launcher.git.repo import GitRepo

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    git(first, "init", "-q", "-b", "main")
    assert anyio.run(GitRepo.discover, first).root == first.resolve()
    first.rename(second)
    second.mkdir(exist_ok=True)
    first.mkdir()
    git(first, "init", "-q", "-b", "main", "--separate-git-dir", str(tmp_path / "other.git"))
    assert anyio.run(GitRepo.discover, first).git_dir == (tmp_path / "other.git").resolve()
    with discovery_kept():
        kept = anyio.run(GitRepo.discover, first)
        again = anyio.run(GitRepo.discover, first)
    assert kept is not again and kept.root == again.root == first.resolve()
