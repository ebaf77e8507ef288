"""A repository whose refs are in git's reftable format (`git init --ref-format=reftable`, git
2.45 and later; the default of git 3.0 and of `feature.experimental`) is refused up front, with
exit 3 and a message saying what (reftable), where (the repository) and how to fix it (`git refs
migrate --ref-format=files`): the launcher reads HEAD and reflogs as files of the git dir to tell
an agent's moves of the user's branches from the user's own, and in a reftable repository those
files say nothing (HEAD reads `ref: refs/heads/.invalid` forever). Nothing is started, nothing of
the repository changes. The demo builds its sample repository with files refs whatever the
user's init.defaultRefFormat says, and runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import git, launcher_cli


def _reftable_repo(root: Path) -> Path:
    root.mkdir()
    made = subprocess.run(["git", "init", "-q", "-b", "main", "--ref-format=reftable", str(root)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"this git has no reftable backend: {made.stderr.strip()}")
    (root / "app.py").write_text("x = 1\n")
    (root / "plan.toml").write_text(
        '[agents.sh]\nadapter = "command"\ncommand = ["sh", "-c", "echo hi > small.txt", "{prompt}"]\n'
        '[[task]]\nid = "t1"\nagent = "sh"\nprompt = "x"\n'
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def test_a_run_in_a_reftable_repository_is_refused_with_how_to_convert_it(tmp_path: Path) -> None:
    repo = _reftable_repo(tmp_path / "repo")
    refs_before = git(repo, "for-each-ref")

    done = launcher_cli(repo, "run", "plan.toml", "--quiet")

    said = done.stdout + done.stderr
    assert done.returncode == 3, said
    assert "reftable" in said and str(repo) in said
    assert "git -C" in said and "refs migrate --ref-format=files" in said
    assert "Traceback" not in said
    assert not (repo / "small.txt").exists()
    assert git(repo, "for-each-ref") == refs_before  # no task branch made
    assert git(repo, "worktree", "list").count("\n") == 1  # no worktree added
    assert git(repo, "status", "--porcelain") == ""


def test_the_same_repository_converted_to_files_refs_runs(tmp_path: Path) -> None:
    repo = _reftable_repo(tmp_path / "repo")
    migrated = subprocess.run(["git", "refs", "migrate", "--ref-format=files"], cwd=repo,
                              capture_output=True, text=True)
    if migrated.returncode != 0:
        pytest.skip(f"this git cannot migrate refs: {migrated.stderr.strip()}")

    done = launcher_cli(repo, "run", "plan.toml", "--quiet")

    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / "small.txt").read_text() == "hi\n"


def test_the_demo_runs_when_new_repositories_default_to_reftable(tmp_path: Path) -> None:
    config = tmp_path / "global.gitconfig"
    config.write_text("[init]\n\tdefaultRefFormat = reftable\n[feature]\n\texperimental = true\n")

    done = launcher_cli(tmp_path, "demo", "--quiet", "--where", str(tmp_path / "demo"),
                        env={"GIT_CONFIG_GLOBAL": str(config)})

    assert done.returncode == 0, done.stdout + done.stderr
    repo = tmp_path / "demo" / "calc-repo"
    assert "def mul" in (repo / "calc" / "core.py").read_text()
    assert not (repo / ".git" / "reftable").exists()
