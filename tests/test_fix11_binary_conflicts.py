"""A resolution round tells the truth about a conflict git could not merge line by line: a binary
file (or one whose `merge` attribute says so) is never described as "committed with git's
conflict markers" because its bytes happen to hold a `<<<<<<< ` line; it is replaced by the
conflict note naming both sides' versions, as for any conflict git cannot mark."""

from __future__ import annotations

from pathlib import Path

import anyio
from conftest import git
from helpers import run_plan, task

from launcher.git.repo import GitRepo
from launcher.git.resolution import Conflict, merge_for_resolution

EMBEDDED = "\n<<<<<<< embedded bytes\n"  # a packed fixture, a serialized blob


def _diverge(repo: Path, ours: dict[str, str | None], theirs: dict[str, str | None]) -> Path:
    """A worktree on branch `topic` whose commit writes `ours`, and main's commit writing
    `theirs` (None: delete the file); the worktree is returned, main is checked out."""
    def write(root: Path, files: dict[str, str | None], message: str) -> None:
        for name, content in files.items():
            if content is None:
                (root / name).unlink()
            else:
                (root / name).write_bytes(content.encode())
        git(root, "add", "-A")
        git(root, "commit", "-qm", message)

    worktree = repo.parent / "topic"
    git(repo, "worktree", "add", "-q", "-b", "topic", str(worktree), "main")
    write(worktree, ours, "ours")
    write(repo, theirs, "theirs")
    return worktree


def _merge(repo: Path, worktree: Path) -> dict[str, Conflict]:
    async def go() -> list[Conflict]:
        git_repo = await GitRepo.discover(repo)
        tip = await git_repo.rev_parse("main")
        return (await merge_for_resolution(git_repo, worktree, tip, "main", "merge main", {}))[1]
    return {conflict.path: conflict for conflict in anyio.run(go)}


def _base(repo: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (repo / name).write_bytes(content.encode())
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")


def test_a_binary_conflict_with_marker_like_bytes_gets_the_conflict_note(repo: Path) -> None:
    _base(repo, {"data.bin": f"BIN\0\0\x01header{EMBEDDED}v0\n"})
    worktree = _diverge(repo, {"data.bin": f"BIN\0\0\x01header{EMBEDDED}v-ours\n"},
                        {"data.bin": f"BIN\0\0\x01header{EMBEDDED}v-theirs\n"})

    conflict = _merge(repo, worktree)["data.bin"]

    assert conflict.left == "note"
    assert "not mergeable line by line" in conflict.kind("main")
    assert "conflict markers in it" not in conflict.how_left()
    note = (worktree / "data.bin").read_text()
    assert note.startswith("<<<<<<< launcher: unresolved merge conflict in data.bin")
    assert conflict.ours is not None and conflict.theirs is not None
    assert conflict.ours.split()[1] in note and conflict.theirs.split()[1] in note  # both sides named


def test_a_text_file_git_may_not_merge_line_by_line_gets_the_conflict_note(repo: Path) -> None:
    """`merge=binary` (or `-merge`, or the `binary` macro): git keeps this branch's version
    and writes no marker, whatever lines the file holds."""
    fixture = "a\n<<<<<<< HEAD\nb\n>>>>>>> other\n"
    _base(repo, {".gitattributes": "*.snap merge=binary\n", "view.snap": fixture + "v0\n"})
    worktree = _diverge(repo, {"view.snap": fixture + "ours\n"}, {"view.snap": fixture + "theirs\n"})

    conflict = _merge(repo, worktree)["view.snap"]

    assert conflict.left == "note"
    assert (worktree / "view.snap").read_text().startswith("<<<<<<< launcher: unresolved merge conflict")


def test_a_deleted_fixture_that_holds_marker_lines_is_no_marked_conflict(repo: Path) -> None:
    fixture = "a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> other\n"
    _base(repo, {"fixture.txt": fixture})
    worktree = _diverge(repo, {"fixture.txt": fixture + "more\n"}, {"fixture.txt": None})

    conflict = _merge(repo, worktree)["fixture.txt"]

    assert conflict.left == "note"
    assert conflict.kind("main") == "deleted on main, changed on your branch"


def test_a_text_conflict_keeps_gits_markers(repo: Path) -> None:
    _base(repo, {"notes.txt": "one\n"})
    worktree = _diverge(repo, {"notes.txt": "ours\n"}, {"notes.txt": "theirs\n"})

    conflict = _merge(repo, worktree)["notes.txt"]

    assert conflict.left == "markers"
    assert conflict.kind("main") == "changed on both sides"
    assert (worktree / "notes.txt").read_text().startswith("<<<<<<< ")


def test_the_resolution_round_of_a_binary_conflict_is_told_of_the_note_not_of_markers(repo: Path) -> None:
    _base(repo, {"data.bin": f"BIN\0\x01{EMBEDDED}v0\n"})
    tasks = [
        {"id": "one", "script": [{"write": "data.bin", "content": f"BIN\0\x01{EMBEDDED}v-one\n"}]},
        {"id": "two", "script": [{"write": "data.bin", "content": f"BIN\0\x01{EMBEDDED}v-two\n", "rounds": [1]},
                                 {"say": "nothing to do", "rounds": [2, 3]}]},
    ]

    report = run_plan(repo, tasks, on_conflict="agent")

    assert [task(report, t).state for t in ("one", "two")] == ["merged", "failed"]
    feedback = (Path(report.artifacts) / "two" / "grading" / "1-feedback.md").read_text()
    line = next(line for line in feedback.splitlines() if line.startswith("- `data.bin`"))
    assert "replaced by a conflict note" in line and "conflict markers in it" not in line
    assert "your branch's version: `git update-index" in line and "main's version: `git update-index" in line
    assert "unresolved" in task(report, "two").message
