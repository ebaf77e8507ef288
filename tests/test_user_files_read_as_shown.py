"""Every file the user writes by hand (a plan, launcher.toml, `.worktreeinclude`, ...) is read as
the editor shows it and within the 64 MiB cap of every input file the user names:

- a file over the cap is refused before anything is made (exit 2, naming the file and the
  limit), never read whole into memory;
- a `.worktreeinclude` saved with a UTF-8 byte-order mark copies the file its first line names,
  as git itself skips the mark in `.gitignore`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import git, launcher_cli

PLAN = """
[[task]]
id = "t1"
agent = "scripted"
prompt = "p"
checks = ["test -f .env"]
script = [{ write = "b.py", content = "y = 2\\n" }]
"""
OVER_THE_CAP = 64 * 1024 * 1024 + 1


def _huge(path: Path) -> None:
    with open(path, "wb") as handle:  # sparse: no disk space, but its size is over the cap
        handle.truncate(OVER_THE_CAP)


@pytest.mark.parametrize(("name", "error_key"), [
    ("plan.toml", "plan_invalid:unreadable"),
    ("launcher.toml", "config_invalid:unreadable"),
    (".worktreeinclude", "usage"),
])
def test_a_hand_written_file_over_the_size_cap_is_refused_naming_it(
        repo: Path, name: str, error_key: str) -> None:
    (repo / "plan.toml").write_text(PLAN.replace('checks = ["test -f .env"]\n', ""))
    _huge(repo / name)
    ran = launcher_cli(repo, "run", "plan.toml", "--json")
    envelope = json.loads(ran.stdout)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert envelope["error_key"] == error_key
    assert name in envelope["observations"]
    assert f"it is {OVER_THE_CAP} bytes, over the size limit of 64 MiB" in envelope["observations"]
    assert git(repo, "for-each-ref", "refs/heads/launcher").strip() == ""  # nothing was made


def test_a_worktreeinclude_with_a_byte_order_mark_copies_what_its_first_line_names(repo: Path) -> None:
    (repo / ".worktreeinclude").write_bytes(b"\xef\xbb\xbf.env\n")
    (repo / ".env").write_text("SECRET=1\n")  # the fixture's .gitignore ignores it
    (repo / "plan.toml").write_text(PLAN)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "plan")
    ran = launcher_cli(repo, "run", "plan.toml", "--no-merge", "--json")
    task = json.loads(ran.stdout)["tasks"][0]
    assert ran.returncode == 0 and task["state"] == "approved", task["message"]
    assert os.path.exists(os.path.join(task["worktree"], ".env"))
