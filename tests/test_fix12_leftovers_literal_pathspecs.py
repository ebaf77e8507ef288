"""A conflicted file whose name looks like a git pathspec pattern (`[ab].txt`, `*`) is looked up
by its name only. The conflict report says, for each side, the latest commits that touched the
conflicted files; git would read `[ab].txt` as a glob matching `a.txt` and `*` as every file, and
the report then named commits that touched other files as the cause of the conflict."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from conftest import git, write_files

from launcher.git.merge import Candidate, merge_commit
from launcher.git.repo import GitRepo


def _commit(root: Path, branch: str, path: str, text: str, message: str) -> None:
    git(root, "checkout", "-q", branch)
    (root / path).write_text(text)
    git(root, "add", "--", f":(literal){path}")
    git(root, "commit", "-q", "-m", message)


@pytest.mark.parametrize("name", ["[ab].txt", "*", ":(exclude)x"])
def test_the_conflict_report_names_the_commits_that_touched_the_conflicted_file(tmp_path: Path, name: str) -> None:
    root = tmp_path / "repo"
    write_files(root, {name: "one\n", "a.txt": "a\n", "other.txt": "o\n"})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    git(root, "branch", "task")
    _commit(root, "main", name, "target\n", "target: the conflicted file")
    _commit(root, "main", "a.txt", "a2\n", "target: a.txt, not in conflict")
    _commit(root, "task", name, "task\n", "task: the conflicted file")
    _commit(root, "task", "other.txt", "o2\n", "task: other.txt, not in conflict")
    git(root, "checkout", "-q", "main")

    repo = anyio.run(GitRepo.discover, root)
    candidate = Candidate(task_id="t", branch="task", head=git(root, "rev-parse", "task").strip(),
                          message="Land t", trailers={})  # fmt: skip
    landing = anyio.run(lambda: merge_commit(repo, tip="main", candidate=candidate, strategy="merge"))

    assert landing.outcome == "conflicted"
    assert landing.conflict_files == [name]
    target_line = next(line for line in landing.details.splitlines() if "target side:" in line)
    task_line = next(line for line in landing.details.splitlines() if "task side" in line)
    assert "target: the conflicted file" in target_line
    assert "not in conflict" not in target_line
    assert "task: the conflicted file" in task_line
    assert "not in conflict" not in task_line
