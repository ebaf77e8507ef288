"""Resolution rounds of conflicts that are not two edits of one line (`on_conflict = "agent"`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git
from helpers import run_plan, task


def _sh(command: str, rounds: list[int]) -> dict[str, object]:
    return {"run": ["sh", "-c", command], "rounds": rounds}


@pytest.mark.parametrize("resolution, lands", [
    # the restore command of "your branch's version", as the feedback gives it: the file comes
    # back under the name git made up for it (`conf~HEAD`), which neither side has
    ("git show HEAD^1:conf > 'conf~HEAD'", False),
    ("git show HEAD^1:conf > 'conf~HEAD' && git mv 'conf~HEAD' conf.txt", True),
])
def test_a_file_git_moved_aside_for_a_directory_lands_only_under_a_name_of_its_own(
        repo: Path, resolution: str, lands: bool) -> None:
    tasks = [
        {"id": "dir", "script": [_sh("mkdir conf && printf g > conf/a", [1])]},
        {"id": "file", "script": [_sh("printf mine > conf", [1]), _sh(resolution, [2])]},
    ]

    report = run_plan(repo, tasks, on_conflict="agent")

    feedback = (Path(report.artifacts) / "file" / "grading" / "1-feedback.md").read_text()
    line = next(line for line in feedback.splitlines() if line.startswith("- `conf~HEAD`"))
    assert "your branch's `conf`, moved here by git" in line and "never landed" in line
    assert "+++ b/conf/a" in feedback.split("The other side's change")[1]  # main's directory, not "no change"
    landed = git(repo, "ls-tree", "-r", "--name-only", "main").split()
    assert "conf~HEAD" not in landed
    if lands:
        assert task(report, "file").state == "merged"
        assert git(repo, "show", "main:conf.txt") == "mine" and "conf/a" in landed
        assert (repo / "conf.txt").read_text() == "mine"
    else:
        assert task(report, "file").state == "failed"
        assert "keeps conf~HEAD, a name git made up" in task(report, "file").message


def test_a_file_git_moved_aside_for_a_symlink_of_its_name_is_not_landed_under_the_made_up_name(
        repo: Path) -> None:
    """A file made a symlink on one side and edited on the other: git keeps the link and moves
    the target's file to `app.py~<commit>`; restoring it there lands a file neither side has."""
    restore_main = ("tip=$(git rev-parse HEAD^2) && git show HEAD^2:app.py > \"app.py~$tip\" && "
                    "git show HEAD^1:app.py > /dev/null")
    tasks = [
        {"id": "edit", "script": [{"append": "app.py", "content": "# edited\n"}]},
        {"id": "link", "script": [_sh("rm app.py && ln -s README.md app.py", [1]), _sh(restore_main, [2])]},
    ]

    report = run_plan(repo, tasks, on_conflict="agent")

    feedback = (Path(report.artifacts) / "link" / "grading" / "1-feedback.md").read_text()
    assert "main's `app.py`, moved here by git" in feedback
    assert task(report, "link").state == "failed"
    assert "a name git made up" in task(report, "link").message
    assert not [name for name in git(repo, "ls-tree", "-r", "--name-only", "main").split() if "~" in name]


def test_a_file_both_sides_renamed_to_different_names_is_told_as_such_and_lands_as_resolved(repo: Path) -> None:
    keep_mains_name = "git rm -q -f app.py mine.py && git show HEAD^2:core.py > core.py"
    tasks = [
        {"id": "core", "script": [_sh("git mv app.py core.py", [1])]},
        {"id": "mine", "script": [_sh("git mv app.py mine.py", [1]), _sh(keep_mains_name, [2])]},
    ]

    report = run_plan(repo, tasks, on_conflict="agent")

    feedback = (Path(report.artifacts) / "mine" / "grading" / "1-feedback.md").read_text()
    line = next(line for line in feedback.splitlines() if line.startswith("- `app.py`"))
    assert "renamed away on both sides" in line and "unmerged" not in line
    assert [task(report, t).state for t in ("core", "mine")] == ["merged", "merged"]
    assert git(repo, "ls-tree", "-r", "--name-only", "main").split() == [".gitignore", "README.md", "core.py"]
    assert (repo / "core.py").is_file() and not (repo / "mine.py").exists() and not (repo / "app.py").exists()
