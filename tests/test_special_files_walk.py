"""The walk that finds special files in a pool worktree (`odd_entries.special_files`): every FIFO
and socket at any depth, also one named `.git`, every directory named `.git` below the top (git
never cleans one), and nothing for regular files, symlinks (also to a FIFO), empty directories
or a submodule's `.git` file."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from launcher.engine import odd_entries


def test_special_files_at_any_depth_are_found_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    (tmp_path / "a" / "file.txt").write_text("x\n")
    os.mkfifo(tmp_path / "top.fifo")
    os.mkfifo(tmp_path / "a" / "b" / "c" / "deep fifo")
    os.mkfifo(tmp_path / "a" / ".git")  # a FIFO named like git's link file: still a FIFO
    (tmp_path / "sub" / ".git").mkdir(parents=True)
    os.mkfifo(tmp_path / "sub" / ".git" / "inside")  # under a `.git` directory: named by that directory
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / ".git").write_text("gitdir: ../.git/modules/mod\n")  # a submodule's link file
    (tmp_path / "link").symlink_to(tmp_path / "top.fifo")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "a" / "b" / "dev.sock"))
        found = odd_entries.special_files(tmp_path)
    # git never lists nor cleans anything under a `.git` directory: it is named, so that recycling
    # removes it and a take refuses it
    assert found == ["a/.git", "a/b/c/deep fifo", "a/b/dev.sock", "sub/.git", "top.fifo"]


def test_a_tree_of_regular_files_has_none(tmp_path: Path) -> None:
    for n in range(30):
        (tmp_path / f"d{n % 3}").mkdir(exist_ok=True)
        (tmp_path / f"d{n % 3}" / f"f{n}").write_text("x\n")
    assert odd_entries.special_files(tmp_path) == []
