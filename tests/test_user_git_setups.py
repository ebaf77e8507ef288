"""Real users' git setups the launcher must cope with, or refuse saying what to do: a signing
policy that cannot sign here, a repository git refuses, GIT_DIR in the environment, a tag named
like a branch, a commit-message cleanup that treats `#` as a comment."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import launcher_cli


@pytest.fixture
def user_home(tmp_path: Path) -> Path:
    """A private HOME whose ~/.gitconfig is the user's global config (no system config)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Ada User\n\temail = ada@example.com\n")
    return home


def _user_env(home: Path, **more: str) -> dict[str, str]:
    return {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "XDG_CONFIG_HOME": str(home / ".config"), **more}


def _user_git(home: Path, cwd: Path, *args: str) -> str:
    """The user's own git: their ~/.gitconfig, none of the launcher's pins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_user_env(home))
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def test_the_demo_builds_its_sample_repository_whatever_the_users_signing_and_eol_policy(
        tmp_path: Path, user_home: Path) -> None:
    # Signing that cannot work here (no key at hand, gpg.program unavailable), and an EOL policy
    # that refuses LF files: the sample repository is the launcher's own, not the user's.
    with (user_home / ".gitconfig").open("a") as config:
        config.write("[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = false\n"
                     "[core]\n\tautocrlf = true\n\tsafecrlf = true\n")
    done = launcher_cli(tmp_path, "demo", "--where", str(tmp_path / "w"), "--quiet",
                        env=_user_env(user_home), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "internal error" not in done.stderr
    sample = tmp_path / "w" / "calc-repo"
    log = _user_git(user_home, sample, "log", "--format=%s", "main")
    assert "calc: initial commit" in log and len(log.splitlines()) > 1  # the demo's work landed


def test_a_git_config_the_demo_cannot_build_with_is_named_and_leaves_nothing_half_made(
        tmp_path: Path, user_home: Path) -> None:
    with (user_home / ".gitconfig").open("a") as config:
        config.write("[core]\n\tsharedRepository = bogus\n")
    for flag in ((), ("--workflow",), ("--mutation",)):
        where = tmp_path / f"w{''.join(flag)}"
        done = launcher_cli(tmp_path, "demo", *flag, "--where", str(where), env=_user_env(user_home))
        assert done.returncode == 3, done.stdout + done.stderr
        assert "`git init -q -b main` failed" in done.stderr
        assert "bad boolean config value 'bogus' for 'core.sharedrepository'" in done.stderr
        assert "internal error" not in done.stderr and "Fix: " in done.stderr
        assert list(where.iterdir()) == []  # no half-made sample repository left behind


def _repo_with_agents(home: Path, root: Path) -> Path:
    """A repository whose launcher.toml defines the agent `bot` and makes it the default."""
    root.mkdir()
    _user_git(home, root, "init", "-q", "-b", "main")
    (root / "launcher.toml").write_text('default_agent = "bot"\n\n[agents.bot]\nadapter = "command"\n'
                                        'command = ["sh", "-c", "echo new > new.txt"]\n')
    (root / "README").write_text("hi\n")
    _user_git(home, root, "add", "-A")
    _user_git(home, root, "commit", "-q", "-m", "init")
    (root / "plan.toml").write_text('[[task]]\nid = "t1"\nprompt = "x"\n')
    (root / "named.toml").write_text('[[task]]\nid = "t1"\nprompt = "x"\nagent = "bot"\n')
    return root


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the repository to another user needs root")
def test_a_repository_git_refuses_is_reported_before_the_plan_is_checked_against_its_agents(
        tmp_path: Path, user_home: Path) -> None:
    repo = _repo_with_agents(user_home, tmp_path / "repo")
    os.chown(repo, 65534, -1)  # a shared volume, a container mount: git refuses "dubious ownership"
    try:
        for argv in (("run", "plan.toml"), ("run", "named.toml"), ("run", "--task", "x"), ("agents",)):
            done = launcher_cli(repo, *argv, env=_user_env(user_home))
            assert done.returncode == 3, (argv, done.stdout + done.stderr)
            assert "dubious ownership" in done.stderr, (argv, done.stderr)
            assert f"git config --global --add safe.directory {repo}" in done.stderr
            assert "unknown agent" not in done.stderr and "default_agent" not in done.stderr
    finally:
        os.chown(repo, os.geteuid(), -1)
    assert not (repo / ".launcher").exists()  # nothing was created


def test_git_dir_in_the_environment_is_named_as_not_used_never_answered_with_git_init(
        tmp_path: Path, user_home: Path) -> None:
    # The "bare dotfiles repository" layout: the user's git works in `tree` through GIT_DIR.
    bare, tree = tmp_path / "dot.git", tmp_path / "tree"
    _user_git(user_home, tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    tree.mkdir()
    env = _user_env(user_home, GIT_DIR=str(bare), GIT_WORK_TREE=str(tree))
    done = launcher_cli(tree, "run", "--task", "x", "--agent", "scripted", env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"your environment sets GIT_DIR={bare}, GIT_WORK_TREE={tree}" in done.stderr
    assert "which the launcher does not use" in done.stderr and "git worktree add" in done.stderr
    assert "git init" not in done.stderr and not (tree / ".git").exists()


def test_a_tag_named_like_the_branch_neither_hides_the_branch_nor_replaces_it_as_the_base(
        tmp_path: Path, user_home: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _user_git(user_home, repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("v1\n")
    _user_git(user_home, repo, "add", "-A")
    _user_git(user_home, repo, "commit", "-q", "-m", "v1")
    _user_git(user_home, repo, "tag", "main")  # an old tag called like the branch (release/v2 do this)
    (repo / "README").write_text("v2\n")
    _user_git(user_home, repo, "commit", "-q", "-am", "v2")
    tag = _user_git(user_home, repo, "rev-parse", "refs/tags/main").strip()
    for n in (1, 2):
        (tmp_path / f"plan{n}.toml").write_text(
            f'[[task]]\nid = "t{n}"\nagent = "ed"\nprompt = "x"\n\n[agents.ed]\nadapter = "command"\n'
            f'command = ["sh", "-c", "echo {n} > new{n}.txt"]\n')
    env = _user_env(user_home)
    landed = launcher_cli(repo, "run", str(tmp_path / "plan1.toml"), "--quiet", env=env)
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert "heads/main" not in landed.stdout + landed.stderr
    assert (repo / "new1.txt").read_text() == "1\n"  # landed on branch main, checked out here
    tip = _user_git(user_home, repo, "rev-parse", "refs/heads/main").strip()
    based = launcher_cli(repo, "run", str(tmp_path / "plan2.toml"), "--base", "main", "--into", "main",
                         "--no-merge", "--quiet", env=env)
    assert based.returncode == 0, based.stdout + based.stderr
    facts = next((repo / ".launcher" / "runs").glob("*/t2/facts.json"))
    base = json.loads(facts.read_text())["base_sha"]
    assert base == tip != tag  # the branch `main` the work lands on, not the tag's old commit


@pytest.mark.parametrize("strategy", ["rebase", "merge"])
def test_a_task_title_starting_with_hash_is_the_subject_of_its_commit_whatever_commit_cleanup(
        tmp_path: Path, user_home: Path, strategy: str) -> None:
    with (user_home / ".gitconfig").open("a") as config:
        config.write("[commit]\n\tcleanup = strip\n")  # `#` lines are comments to the user's own git
    repo = tmp_path / "repo"
    repo.mkdir()
    _user_git(user_home, repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("hi\n")
    _user_git(user_home, repo, "add", "-A")
    _user_git(user_home, repo, "commit", "-q", "-m", "init")
    (tmp_path / "plan.toml").write_text(
        f'[run]\nstrategy = "{strategy}"\n\n[[task]]\nid = "t1"\ntitle = "#42 fix the login"\nagent = "ed"\n'
        'prompt = "x"\n\n[agents.ed]\nadapter = "command"\ncommand = ["sh", "-c", "echo fixed > login.txt"]\n')
    done = launcher_cli(repo, "run", str(tmp_path / "plan.toml"), "--quiet", env=_user_env(user_home))
    assert done.returncode == 0, done.stdout + done.stderr
    subjects = _user_git(user_home, repo, "log", "--format=%s", "main").splitlines()
    assert "#42 fix the login (launcher task t1)" in subjects, subjects
    assert not any(subject.startswith("Launcher-Run:") for subject in subjects), subjects
