"""Conflict markers a branch adds are refused at landing; the refusal names each file as the
rest of the report does, whatever its name holds (spaces, non-ASCII letters)."""

from __future__ import annotations

from pathlib import Path

import anyio
from conftest import git

from launcher.git.markers import added_markers
from launcher.git.repo import GitRepo


def _markers(repo: Path, tip: str, head: str) -> list[str]:
    async def go() -> list[str]:
        return await added_markers(await GitRepo.discover(repo), tip, head)
    return anyio.run(go)


def test_marker_lines_are_named_by_the_real_path_and_line(repo: Path) -> None:
    tip = git(repo, "rev-parse", "HEAD").strip()
    (repo / "héllo wörld.txt").write_text("ok\n<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\n")
    # an added content line that itself reads like a file header (`+++ ` in the diff)
    (repo / "notes.md").write_text("++ not a header\n<<<<<<< HEAD\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "markers")
    found = _markers(repo, tip, git(repo, "rev-parse", "HEAD").strip())
    assert found == ["héllo wörld.txt:2", "héllo wörld.txt:6", "notes.md:2"]


def test_the_users_quote_and_prefix_settings_do_not_change_the_names(repo: Path) -> None:
    git(repo, "config", "diff.noprefix", "true")
    git(repo, "config", "core.quotePath", "false")
    tip = git(repo, "rev-parse", "HEAD").strip()
    (repo / "dir with space").mkdir()
    (repo / "dir with space" / "ça.py").write_text(">>>>>>> theirs\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "marker")
    assert _markers(repo, tip, git(repo, "rev-parse", "HEAD").strip()) == ["dir with space/ça.py:1"]


def test_markers_are_as_long_as_the_paths_conflict_marker_size(repo: Path) -> None:
    (repo / ".gitattributes").write_text("*.md conflict-marker-size=10\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "long markers for Markdown")
    tip = git(repo, "rev-parse", "HEAD").strip()
    (repo / "doc.md").write_text("<<<<<<<<<< HEAD\nx\n==========\ny\n>>>>>>>>>>\n")
    # in a file of the default size, a longer run of `<` is text, as it is to git
    (repo / "notes.txt").write_text("<<<<<<<<<< not a marker here\n<<<<<<< HEAD\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "markers")
    found = _markers(repo, tip, git(repo, "rev-parse", "HEAD").strip())
    assert found == ["doc.md:1", "doc.md:5", "notes.txt:2"]


def _branch(repo: Path, files: dict[str, str]) -> tuple[str, str]:
    """(main's tip, the head of a branch off it committing `files`), main checked out again: the
    main work tree holds the target's `.gitattributes`, not the branch's."""
    tip = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "topic")
    for name, text in files.items():
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "topic")
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    return tip, head


def test_a_branch_that_sets_a_longer_marker_size_cannot_slip_such_markers_past_the_check(repo: Path) -> None:
    tip, head = _branch(repo, {".gitattributes": "doc.md conflict-marker-size=10\n",
                               "doc.md": "<<<<<<<<<< HEAD\nx\n==========\ny\n>>>>>>>>>> theirs\n"})
    assert _markers(repo, tip, head) == ["doc.md:1", "doc.md:5"]


def test_in_a_file_whose_landed_marker_size_is_longer_seven_angle_brackets_are_text(repo: Path) -> None:
    """The size the landed tree gives the path is the one that counts (git writes no other there;
    the launcher's own conflict note uses it too): a branch documenting git's 7-character markers
    in such a file is not refused."""
    tip, head = _branch(repo, {".gitattributes": "doc.md conflict-marker-size=10\n",
                               "doc.md": "git writes:\n<<<<<<< HEAD\nours\n>>>>>>> theirs\n"})
    assert _markers(repo, tip, head) == []


def test_the_targets_attributes_count_when_the_branch_does_not_change_them(repo: Path) -> None:
    (repo / ".gitattributes").write_text("doc.md conflict-marker-size=10\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "long markers for doc.md")
    tip, head = _branch(repo, {"doc.md": "<<<<<<<<<< HEAD\n", "other.txt": "<<<<<<< HEAD\n"})
    (repo / ".gitattributes").write_text("")  # the main work tree's own edit is not what lands
    assert _markers(repo, tip, head) == ["doc.md:1", "other.txt:1"]
