"""A checkout's operation in progress as its git dir shows it (a merge, cherry-pick, revert,
rebase or bisect: `MERGE_HEAD`, `BISECT_*`, `rebase-merge/`...): the files the guard of the shared
git dir watches (git/guard.py), how their changes are said, and the directories put back whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

# A checkout's operation in progress, in its git dir: single files, files named with a prefix,
# and directories (every file in them).
# (Not AUTO_MERGE: git leaves it after a rebase that finished, a `git pull --rebase` of the user's
# during the run, and it only names a tree: no git command acts on it.)
FILES = ("MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "CHERRY_PICK_HEAD", "REVERT_HEAD")
PREFIX = "BISECT_"
DIRS = ("sequencer", "rebase-merge", "rebase-apply")


def tree_paths(common_dir: Path, rel: str) -> list[str]:
    """Every file under the directory `rel` (symlinks by target), or `rel` itself if it is not one."""
    top = common_dir / rel
    if top.is_symlink() or not top.is_dir():
        return [rel] if top.is_symlink() or top.exists() else []
    found = []
    for folder, dirs, files in os.walk(top):
        for name in [*files, *(d for d in dirs if os.path.islink(os.path.join(folder, d)))]:
            found.append(os.path.relpath(os.path.join(folder, name), common_dir))
    return found


def paths(common_dir: Path, checkout: str) -> list[str]:
    """The files of a checkout's operation in progress (`checkout`: its git dir, relative)."""
    prefix = f"{checkout}/" if checkout else ""
    paths = [prefix + name for name in FILES]
    with contextlib.suppress(OSError):
        paths += [prefix + name for name in os.listdir(common_dir / checkout) if name.startswith(PREFIX)]
    for folder in DIRS:
        paths += tree_paths(common_dir, prefix + folder)
    return paths


def prune(common_dir: Path, checkouts: tuple[str, ...], kept: Iterable[str]) -> None:
    """An in-progress directory (`rebase-merge/`...) the snapshot did not have (`kept`: the paths
    it has) goes whole once its files are: git takes an empty one for an operation in progress too."""
    kept = list(kept)
    for checkout in checkouts:
        for folder in DIRS:
            rel = f"{checkout}/{folder}" if checkout else folder
            top = common_dir / rel
            if top.is_symlink() or not top.is_dir() or any(
                    key == rel or key.startswith(f"{rel}/") for key in kept):
                continue
            if not tree_paths(common_dir, rel):  # files only an agent added: put back above
                with contextlib.suppress(OSError):
                    shutil.rmtree(top)


def is_in_progress(rel: str) -> bool:
    """Whether `rel` is (in) a file of an operation in progress."""
    return any(part in FILES or part in DIRS or part.startswith(PREFIX)
               for part in rel.split("/"))


def grouped(changed: dict[str, str]) -> dict[str, str]:
    """The changes as said: the files an in-progress directory (`rebase-merge/`) gained, as one."""
    said: dict[str, str] = {}
    for rel, how in changed.items():
        parts = rel.split("/")
        cut = next((i for i, part in enumerate(parts[:-1]) if part in DIRS), None)
        said.setdefault("/".join(parts[: cut + 1]) + "/" if cut is not None and how == "added" else rel, how)
    return said
