"""An epic lands whole or not at all (DESIGN 8), also when the queue finds out only while
landing that one member cannot land: a conflict with another task, or the culprit of the
integration check. Its other members are taken out of the fold before the target moves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import git
from helpers import run_plan, task


def _epic(e2_step: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    steps = e2_step if isinstance(e2_step, list) else [e2_step]
    return [
        {"id": "x", "script": [{"replace": "README.md", "old": "# sample", "new": "# by x"}]},
        {"id": "e1", "epic": "login", "script": [{"write": "e1.txt", "content": "e1\n"}]},
        {"id": "e2", "epic": "login", "script": steps},
    ]


def _main_ever_had(repo: Path, path: str) -> bool:
    """Any commit the target pointed at (its reflog lists them all) holds `path`."""
    for commit in git(repo, "reflog", "--format=%H", "main").split():
        found = subprocess.run(["git", "cat-file", "-e", f"{commit}:{path}"], cwd=repo,
                               capture_output=True)
        if found.returncode == 0:
            return True
    return False


def test_a_member_that_conflicts_at_landing_keeps_the_whole_epic_off_the_target(repo: Path) -> None:
    report = run_plan(repo, _epic({"replace": "README.md", "old": "# sample", "new": "# by e2"}))

    assert [t.state for t in report.tasks] == ["merged", "skipped", "conflicted"], \
        [t.message for t in report.tasks]
    assert "epic 'login' is blocked (task 'e2' is conflicted)" in task(report, "e1").message
    assert not _main_ever_had(repo, "e1.txt")
    assert report.status != "succeeded"


def test_a_member_that_breaks_the_integration_check_keeps_the_whole_epic_off_the_target(
        repo: Path, tmp_path: Path) -> None:
    check = tmp_path / "check.py"
    check.write_text("import pathlib, sys\n"
                     "sys.exit(any('BROKEN' in p.read_text() for p in pathlib.Path('.').glob('*.txt')))\n")

    report = run_plan(repo, _epic({"write": "e2.txt", "content": "BROKEN\n"}),
                      integration_check=f"{sys.executable} {check}", iteration_cap=1)

    assert [t.state for t in report.tasks] == ["merged", "skipped", "failed"], \
        [t.message for t in report.tasks]
    assert not _main_ever_had(repo, "e1.txt") and not _main_ever_had(repo, "e2.txt")
    assert git(repo, "show", "main:README.md") == "# by x\n"  # the rest still landed


def test_an_epic_whose_member_resolves_its_conflict_lands_whole_after_the_round(repo: Path) -> None:
    report = run_plan(repo, _epic([
        {"replace": "README.md", "old": "# sample", "new": "# by e2", "rounds": [1]},
        {"write": "README.md", "content": "# by x and e2\n", "rounds": [2]},
    ]), on_conflict="agent")

    assert [t.state for t in report.tasks] == ["merged"] * 3, [t.message for t in report.tasks]
    # e1 never reached main before e2 did: every tip holding e1.txt holds e2's resolution.
    for commit in git(repo, "reflog", "--format=%H", "main").split():
        listed = git(repo, "ls-tree", "--name-only", commit)
        if "e1.txt" in listed.split():
            assert git(repo, "show", f"{commit}:README.md") == "# by x and e2\n"
