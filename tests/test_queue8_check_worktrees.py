"""A worktree an integration check registers in the shared repository (`git worktree add`)
does not stay registered after its run: removed (one in the launcher's own run directory
whatever it holds, one elsewhere when git can remove it without losing a change), and a note
says so; one left because it has changes is said with the command that removes it."""

from __future__ import annotations

from pathlib import Path

from helpers import git, run_plan, task

TASKS = [{"id": "t1", "script": [{"write": "f_t1.txt", "content": "t1\n"}]}]


def test_a_worktree_the_check_registers_is_removed_after_its_run(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "check-wt"

    report = run_plan(
        repo,
        [TASKS[0]],
        integration_check=f"git worktree add -q --detach {outside} HEAD; test -e {outside}/f_t1.txt",
    )

    assert task(report, "t1").state == "merged", task(report, "t1").message
    listed = git(repo, "worktree", "list", "--porcelain")
    assert str(outside) not in listed and not outside.exists(), listed
    said = [n.message for n in report.notes]
    assert any(f"registered worktrees of the shared repository: {outside} (removed)" in m for m in said), said


def test_a_worktree_the_check_registers_with_changes_outside_the_run_is_left_and_said(
    repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "check-wt"
    check = f"git worktree add -q --detach {outside} HEAD 2>/dev/null; echo built > {outside}/untracked.txt; true"

    report = run_plan(repo, [TASKS[0]], integration_check=check)

    assert task(report, "t1").state == "merged", task(report, "t1").message
    assert (outside / "untracked.txt").read_text() == "built\n"  # nothing of it is lost
    said = [n.message for n in report.notes]
    assert any(f"git worktree remove --force {outside}" in m for m in said), said


def test_a_worktree_the_check_registers_inside_the_run_directory_is_removed(repo: Path) -> None:
    check = 'git worktree add -q --detach "$(dirname "$(dirname "$PWD")")/checkwt" HEAD; touch ../../checkwt/x; true'

    report = run_plan(repo, [TASKS[0]], integration_check=check)

    assert task(report, "t1").state == "merged", task(report, "t1").message
    listed = git(repo, "worktree", "list", "--porcelain")
    assert "checkwt" not in listed, listed
