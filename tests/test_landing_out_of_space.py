"""A landing whose main-work-tree update fails half-way (the disk fills while git writes the
files) leaves the main work tree as it was: what the update wrote is removed, what it changed
gets its old content back, the target is not moved and the run parks; once space is back,
`launcher land` lands the work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import git, git_on_path, launcher_cli

FILL = (
    "head -c 6000000 /dev/urandom > data/fill.bin; echo small > data/small.txt; echo new > data/keep; "
    "mkdir -p data/made/by && echo deep > data/made/by/deep.txt"
)


def _plan(repo: Path) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "keep").write_text("keep\n")
    (repo / "plan.toml").write_text(
        '[agents.sh]\nadapter = "command"\ncommand = ["sh", "-c", ' + json.dumps(FILL) + ', "{prompt}"]\n'
        '[[task]]\nid = "fill"\nagent = "sh"\nprompt = "x"\n'
    )
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")


def _git_failing_half_way(tmp_path: Path) -> dict[str, str]:
    """PATH whose `git read-tree -m -u` does what git does when the disk fills while it writes:
    a new file truncated, another empty, a new directory, a changed file half-written; then it
    fails as git does."""
    return git_on_path(tmp_path, 'case " $* " in *" read-tree -m -u "*)\n'
                                 '  eval new=\\${$#}\n'
                                 '  "$REAL_GIT" cat-file blob "$new:data/fill.bin" | head -c 1000 > data/fill.bin\n'
                                 "  : > data/small.txt; mkdir -p data/made/by\n"
                                 "  printf ne > data/keep\n"
                                 '  echo "error: unable to write file data/fill.bin" >&2; exit 128;;\n'
                                 "esac")


def _assert_as_before(repo: Path, head: str) -> None:
    assert git(repo, "rev-parse", "main") == head
    assert not (repo / "data" / "fill.bin").exists() and not (repo / "data" / "small.txt").exists()
    assert not (repo / "data" / "made").exists()
    assert (repo / "data" / "keep").read_text() == "keep\n"
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def _assert_lands(repo: Path) -> None:
    landed = launcher_cli(repo, "land", "--quiet")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert (repo / "data" / "fill.bin").stat().st_size == 6000000
    assert (repo / "data" / "small.txt").read_text() == "small\n"
    assert (repo / "data" / "made" / "by" / "deep.txt").read_text() == "deep\n"
    assert (repo / "data" / "keep").read_text() == "new\n"
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_landing_that_fails_half_way_leaves_the_main_work_tree_as_it_was(repo: Path, tmp_path: Path) -> None:
    _plan(repo)
    head = git(repo, "rev-parse", "main")
    parked = launcher_cli(repo, "run", "plan.toml", "--quiet", env=_git_failing_half_way(tmp_path))
    assert parked.returncode == 4, parked.stdout + parked.stderr
    assert "what it had written was removed, so the work tree is as before" in parked.stdout
    assert "Free space on the main work tree's file system, then run `launcher land`" in parked.stdout
    _assert_as_before(repo, head)
    _assert_lands(repo)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="mounts a small tmpfs: needs root")
def test_a_landing_onto_a_full_file_system_leaves_it_as_it_was(repo: Path) -> None:
    _plan(repo)
    head = git(repo, "rev-parse", "main")
    data = repo / "data"
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(data)]).returncode:
        pytest.skip("mount refused")
    try:
        (data / "keep").write_text("keep\n")
        parked = launcher_cli(repo, "run", "plan.toml", "--quiet")
        assert parked.returncode == 4, parked.stdout + parked.stderr
        assert "No space left" in parked.stdout or "unable to write" in parked.stdout
        _assert_as_before(repo, head)
        subprocess.run(["mount", "-o", "remount,size=64m", str(data)], check=True)
        _assert_lands(repo)
    finally:
        subprocess.run(["umount", "-l", str(data)])
