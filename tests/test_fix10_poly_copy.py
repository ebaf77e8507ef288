"""Copying include files costs about what `cp -a` costs: each directory is resolved once, not
each file three times, and each file is copied on open file descriptors. What is copied, and
how links and modes come out, is as before (README "Warm worktrees", `.worktreeinclude`)."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest

from launcher.git import include


def dependency_tree(root: Path, packages: int = 150, files: int = 20) -> list[str]:
    """A `node_modules`: scoped packages of small files, `.bin` links (relative and absolute)."""
    paths = []
    for number in range(packages):
        where = root / f"node_modules/@scope{number % 10}/pkg{number}/lib"
        where.mkdir(parents=True)
        for index in range(files):
            (where / f"m{index}.js").write_text(f"module.exports = {number * 100 + index}\n" * 20)
            paths.append(f"node_modules/@scope{number % 10}/pkg{number}/lib/m{index}.js")
    (root / "node_modules/.bin").mkdir()
    for number in range(packages):
        os.symlink(f"../@scope{number % 10}/pkg{number}/lib/m0.js", root / f"node_modules/.bin/pkg{number}")
        paths.append(f"node_modules/.bin/pkg{number}")
    os.symlink(root / "node_modules/@scope0/pkg0/lib/m1.js", root / "node_modules/.bin/absolute")
    paths.append("node_modules/.bin/absolute")
    return sorted(paths)


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def test_the_copy_resolves_each_directory_once_not_each_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, dest = tmp_path / "repo", tmp_path / "wt"
    paths = dependency_tree(src, packages=30, files=20)  # 600 files in 30 directories, 31 links
    dest.mkdir()
    calls = []
    real = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda path, **kw: calls.append(path) or real(path, **kw))
    assert include.copy_includes(src, dest, paths) == paths
    assert len(calls) < 200, f"{len(calls)} path resolutions for {len(paths)} files"


def test_copying_a_dependency_tree_costs_about_what_cp_a_costs(tmp_path: Path) -> None:
    src, dest = tmp_path / "repo", tmp_path / "wt"
    paths = dependency_tree(src)  # 3,000 files, 151 links
    before = children_cpu()
    subprocess.run(["cp", "-a", "--reflink=auto", str(src / "node_modules"), str(tmp_path / "cp")], check=True)
    cp_cpu = children_cpu() - before
    dest.mkdir()
    before = cpu()
    kept = include.safe_sources(src, paths)  # the check at run start, then the copy
    copied = include.copy_includes(src, dest, kept)
    ours = cpu() - before
    assert copied == paths
    assert ours < 4 * cp_cpu + 0.5, f"CPU: the launcher's copy {ours:.2f} s, cp -a {cp_cpu:.2f} s"


def test_the_copy_keeps_content_modes_times_and_links(tmp_path: Path) -> None:
    src, dest = tmp_path / "repo", tmp_path / "wt"
    paths = dependency_tree(src, packages=3, files=2)
    tool = src / "node_modules/@scope1/pkg1/lib/m0.js"
    tool.chmod(0o755)
    os.utime(tool, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    dest.mkdir()
    (dest / "node_modules/@scope2/pkg2/lib").mkdir(parents=True)
    (dest / "node_modules/@scope2/pkg2/lib/m1.js").write_text("tracked\n")  # in the start commit
    copied = include.copy_includes(src, dest, paths)
    assert "node_modules/@scope2/pkg2/lib/m1.js" not in copied
    assert (dest / "node_modules/@scope2/pkg2/lib/m1.js").read_text() == "tracked\n"  # never overwritten
    copy = dest / "node_modules/@scope1/pkg1/lib/m0.js"
    assert copy.read_bytes() == tool.read_bytes()
    assert copy.stat().st_mode & 0o777 == 0o755 and copy.stat().st_mtime_ns == 1_000_000_000_000_000_000
    assert os.readlink(dest / "node_modules/.bin/pkg1") == "../@scope1/pkg1/lib/m0.js"
    absolute = dest / "node_modules/.bin/absolute"  # rewritten to the worktree's own file
    assert os.readlink(absolute) == "../@scope0/pkg0/lib/m1.js"
    assert absolute.resolve() == (dest / "node_modules/@scope0/pkg0/lib/m1.js").resolve()


def test_a_tracked_link_to_a_directory_outside_never_receives_a_copy(tmp_path: Path) -> None:
    src, dest, outside = tmp_path / "repo", tmp_path / "wt", tmp_path / "outside"
    (src / "lib/deep").mkdir(parents=True)
    (src / "lib/deep/a.js").write_text("a\n")
    (src / "lib/b.js").write_text("b\n")
    outside.mkdir()
    dest.mkdir()
    os.symlink(outside, dest / "lib")  # the worktree's `lib` is a tracked link out of it
    assert include.copy_includes(src, dest, ["lib/b.js", "lib/deep/a.js"]) == []
    assert list(outside.iterdir()) == []  # not even a directory made there
