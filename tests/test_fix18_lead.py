"""The lead's own fixes of the thirteenth session (review18), each a specification."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from conftest import git
from helpers import run_plan, task

from launcher import regular_files


def _writes(name: str) -> dict[str, object]:
    return {"id": name, "agent": "scripted", "prompt": f"write {name}.txt",
            "script": [{"write": f"{name}.txt", "content": f"{name}\n"}]}


# 01 (realproj18): a squashed landing, one parent, was titled "Merge sq-a (...)".

def test_a_squashed_landing_is_titled_as_a_squash_and_a_merged_one_as_a_merge(repo: Path) -> None:
    squashed = run_plan(repo, [_writes("sq")], strategy="squash")
    merged = run_plan(repo, [_writes("mg")])

    assert task(squashed, "sq").state == "merged" and task(merged, "mg").state == "merged"
    log = git(repo, "log", "--format=%s|%P", "main").splitlines()
    squash_line = next(line for line in log if "(launcher/" in line and "/sq)" in line)
    merge_line = next(line for line in log if "(launcher/" in line and "/mg)" in line)
    assert squash_line.startswith("Squash sq ") and len(squash_line.split("|")[1].split()) == 1
    assert merge_line.startswith("Merge mg ") and len(merge_line.split("|")[1].split()) == 2


# 02: the mid-session CI found /tmp turned to mode 0700 (every other user of the machine locked
# out): removing a private directory in /tmp whose own removal failed chmod'ed its parent.

def test_a_tree_whose_top_cannot_be_removed_leaves_the_folder_holding_it_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = tmp_path / "shared-tmp"
    holder.mkdir()
    holder.chmod(0o1777)
    tree = holder / "launcher-contract-x"
    (tree / "deep").mkdir(parents=True)
    (tree / "deep" / "file").write_text("x")
    real_rmdir = os.rmdir

    def busy_top(target: object, *args: object, **kwargs: object) -> None:
        if os.fspath(target) == str(tree):  # type: ignore[arg-type]
            raise OSError(errno.ENOTEMPTY, "Directory not empty", str(tree))  # a writer still at work in it
        real_rmdir(target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rmdir", busy_top)
    with pytest.raises(OSError):
        regular_files.clear_path(tree)

    assert stat.S_IMODE(holder.stat().st_mode) == 0o1777
    assert not (tree / "deep").exists()  # what could go, went


def test_a_tree_removed_meanwhile_by_another_remover_is_no_error_and_changes_no_mode(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = tmp_path / "shared-tmp"
    holder.mkdir()
    holder.chmod(0o755)
    tree = holder / "launcher-contract-y"
    (tree / "a").mkdir(parents=True)
    real_rmdir = os.rmdir

    def raced(target: object, *args: object, **kwargs: object) -> None:
        if os.fspath(target) == str(tree):  # type: ignore[arg-type]
            real_rmdir(target)  # type: ignore[arg-type]  # the other remover got there first
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(tree))
        real_rmdir(target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rmdir", raced)
    regular_files.clear_path(tree)

    assert not tree.exists()
    assert stat.S_IMODE(holder.stat().st_mode) == 0o755
