"""A culprit of the integration check gets its revision round on the target it failed on: the
target is merged into its branch first (as for a conflict's resolution round), the feedback
says so and names what the target brought, so a fix that is right on the target passes the
task's own checks there and lands."""

from __future__ import annotations

from pathlib import Path

from helpers import git, run_plan, task

# The pinned value (pin.txt, when there is one) must be the value (v.txt, 1 when absent).
PINNED = 'test ! -e pin.txt || test "$(cat pin.txt)" = "$(cat v.txt 2>/dev/null || echo 1)"'


def test_a_culprit_of_a_combination_fixes_it_on_the_target_and_lands(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "a", "title": "the value becomes 2",
         "script": [{"write": "v.txt", "content": "2"}]},
        {"id": "b", "checks": [PINNED], "script": [
            {"write": "pin.txt", "content": "1", "rounds": [1]},   # right on the old base
            {"write": "pin.txt", "content": "2", "rounds": [2]}]},  # right on the target
    ], integration_check=PINNED, iteration_cap=2)

    assert {t.id: t.state for t in report.tasks} == {"a": "merged", "b": "merged"}, \
        [t.message for t in report.tasks]
    assert report.queue.culprits == ["b"]
    assert git(repo, "show", "main:pin.txt") == "2" and git(repo, "show", "main:v.txt") == "2"
    feedback = (Path(report.artifacts) / "b" / "grading" / "1-feedback.md").read_text()
    assert "The integration check fails with your change" in feedback
    assert "Your worktree now holds `main`" in feedback
    assert "the value becomes 2" in feedback  # what the target brought


def test_a_culprit_alone_still_gets_its_plain_revision_round(repo: Path) -> None:
    report = run_plan(repo, [{"id": "b", "checks": [], "script": [
        {"write": "pin.txt", "content": "7", "rounds": [1]},
        {"write": "pin.txt", "content": "1", "rounds": [2]}]}],
        integration_check=PINNED, iteration_cap=2)

    assert task(report, "b").state == "merged", task(report, "b").message
    assert report.queue.culprits == ["b"]
    feedback = (Path(report.artifacts) / "b" / "grading" / "1-feedback.md").read_text()
    assert "The integration check fails with your change" in feedback
    assert "Your worktree now holds" not in feedback  # the target had nothing new for it
