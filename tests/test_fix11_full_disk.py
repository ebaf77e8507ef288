"""A full disk, a quota or a read-only file system is told from git's own words only: the
strerror git appends after ": " at the end of a line, or its "write error. Out of diskspace".
The same words inside something git quotes -- a path, a pathspec, a directory a user or an agent
named -- are that name, never the machine: the command's real error is said (here, an agent's
program that is not committed), not "could not write, free space, then `launcher resume`"."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from helpers import git, launcher_cli

from launcher import process
from launcher.errors import OutOfSpace
from launcher.git.full_disk import out_of_space


def _failed(err: str) -> process.Completed:
    return process.Completed(["git"], 128, b"", err.encode(), 0.0)


@pytest.mark.parametrize("said", [
    "fatal: path 'tools/Read-only file system check.py' exists on disk, but not in '0dc455e'",
    "fatal: path 'notes: No space left on device' does not exist in 'HEAD'",
    "error: 'vendor/Disk quota exceeded/' does not have a commit checked out",
    "fatal: pathspec 'could not write: No space left on device' did not match any files",
    "fatal: ambiguous argument 'x: Read-only file system': unknown revision or path not in the working tree.",
])  # fmt: skip
def test_a_quoted_name_holding_git_s_words_is_not_the_disk(tmp_path: Path, said: str) -> None:
    assert out_of_space(_failed(said), ["cat-file", "-e"], tmp_path) is None


@pytest.mark.parametrize(("said", "code"), [
    ("error: unable to create file notes.txt: No space left on device", errno.ENOSPC),
    ("fatal: Unable to create '/r/.git/index.lock': Read-only file system", errno.EROFS),
    ("fatal: write error: Disk quota exceeded", errno.EDQUOT),
    ("fatal: sha1 file '.git/objects/pack/tmp_pack_x' write error. Out of diskspace", errno.ENOSPC),
])  # fmt: skip
def test_git_s_own_phrasing_is_the_disk(tmp_path: Path, said: str, code: int) -> None:
    found = out_of_space(_failed(said), ["add", "-A"], tmp_path)
    assert isinstance(found, OutOfSpace) and found.errno == code


@pytest.mark.parametrize("name", ["Read-only file system check.py", "No space left on device.py"])
def test_an_uncommitted_agent_program_named_with_git_s_words_is_said_as_uncommitted(
    repo: Path, tmp_path: Path, name: str
) -> None:
    (repo / "tools").mkdir()
    (repo / "tools" / name).write_text('print("hi")\n')  # not committed
    (repo / "launcher.toml").write_text(f'[agents.bot]\ncommand = ["python3", "tools/{name}", "{{prompt}}"]\n')
    git(repo, "add", "launcher.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "agent")
    (tmp_path / "plan.json").write_text(json.dumps({"task": [{"id": "t1", "agent": "bot", "prompt": "x"}]}))

    done = launcher_cli(repo, "run", str(tmp_path / "plan.json"), "--quiet")

    assert f"agent 'bot' runs tools/{name}, which is not committed" in done.stderr, done.stderr
    assert "could not write" not in done.stderr and "free space" not in done.stderr
    assert "launcher resume" not in done.stderr
