"""A landing parked on the user's local changes tells them to stash and, after the landing, to
`git stash pop --index`: followed to the letter, what they had staged is staged again and their
other edits are back (a plain `pop` would un-stage the staged edits)."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import git, launcher_cli, run_plan

from launcher.models.states import RunStatus

LINES = "".join(f"line {n}\n" for n in range(1, 11))


def test_the_parked_advice_followed_literally_keeps_staged_and_unstaged_edits(repo: Path) -> None:
    (repo / "notes.txt").write_text(LINES)
    git(repo, "add", "notes.txt")
    git(repo, "commit", "-q", "-m", "notes")
    task = {"id": "tail", "script": [{"replace": "notes.txt", "old": "line 10\n", "new": "line 10 (task)\n"}]}
    staged_text = LINES.replace("line 1\n", "line 1 (staged)\n")
    (repo / "notes.txt").write_text(staged_text)
    git(repo, "add", "notes.txt")
    (repo / "notes.txt").write_text(staged_text.replace("line 2\n", "line 2 (mine)\n"))

    report = run_plan(repo, [task])
    assert report.status == RunStatus.PARKED, report.message
    commands = re.findall(r"`(git stash[^`]*)`", report.message)
    assert commands == ["git stash", "git stash pop --index"], report.message

    git(repo, "stash")
    landed = launcher_cli(repo, "land", report.run_id)
    assert landed.returncode == 0, landed.stdout + landed.stderr
    git(repo, *commands[1].split()[1:])
    assert (repo / "notes.txt").read_text() == (LINES.replace("line 1\n", "line 1 (staged)\n")
                                                .replace("line 2\n", "line 2 (mine)\n")
                                                .replace("line 10\n", "line 10 (task)\n"))
    staged = git(repo, "diff", "--cached")
    assert "+line 1 (staged)" in staged and "line 2 (mine)" not in staged
    assert "+line 2 (mine)" in git(repo, "diff")
