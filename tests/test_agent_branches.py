"""An agent that leaves its task's branch (`git switch -c`, a detached checkout) in its worktree:
work that builds on the branch is carried onto it and lands; work that does not is never landed
and never lost."""

from __future__ import annotations

from pathlib import Path

from helpers import git, run_plan, task

from launcher.models.events import Event
from launcher.models.states import RunStatus, TaskState

COMMIT = "git -c user.name=a -c user.email=a@a commit -qm"


def test_commits_made_on_a_branch_of_the_agents_own_are_carried_onto_the_task_branch_and_land(
        repo: Path) -> None:
    events: list[Event] = []
    report = run_plan(repo, [{
        "id": "switcher", "agent": "scripted", "prompt": "work on a feature branch",
        "script": [{"run": ["sh", "-c", f"git switch -q -c feature/mine && echo one > one.txt && "
                                        f"git add one.txt && {COMMIT} 'one'"]},
                   {"write": "two.txt", "content": "two\n"},  # left uncommitted
                   {"contract": {"files_changed": ["one.txt", "two.txt"]}}],
    }], events=events)
    switcher = task(report, "switcher")
    assert report.status == RunStatus.SUCCEEDED, switcher.message
    assert switcher.state == TaskState.MERGED
    assert (repo / "one.txt").read_text() == "one\n" and (repo / "two.txt").read_text() == "two\n"
    assert sorted(switcher.files) == ["one.txt", "two.txt"]
    notes = [e.message for e in events if e.kind == "note" and e.task_id == "switcher"]
    assert any("switched to branch feature/mine" in n for n in notes), notes


def test_work_that_does_not_build_on_the_task_branch_fails_the_task_and_is_kept(repo: Path) -> None:
    base = git(repo, "rev-parse", "main").strip()
    report = run_plan(repo, [{
        "id": "orphan", "agent": "scripted", "prompt": "start over",
        "script": [{"run": ["sh", "-c", f"git switch -q --orphan fresh && "
                                        f"echo alone > alone.txt && git add alone.txt && {COMMIT} 'alone'"]},
                   {"contract": {"files_changed": ["alone.txt"]}}],
    }])
    orphan = task(report, "orphan")
    assert orphan.state == TaskState.FAILED
    assert "left its branch for branch fresh" in orphan.message
    assert git(repo, "rev-parse", "main").strip() == base  # nothing landed
    saved = orphan.message.split("kept at ")[1].split(" ")[0]
    assert git(repo, "show", f"{saved}:alone.txt") == "alone\n"  # reachable, not only from a worktree


def test_an_orphan_branch_with_no_commit_fails_the_task_with_a_plain_message(repo: Path) -> None:
    report = run_plan(repo, [{
        "id": "unborn", "agent": "scripted", "prompt": "start over",
        "script": [{"run": ["sh", "-c", "git switch -q --orphan empty && git rm -rqf --cached ."]},
                   {"contract": {"files_changed": []}}],
    }])
    unborn = task(report, "unborn")
    assert unborn.state == TaskState.FAILED
    assert "left its branch for branch empty" in unborn.message, unborn.message
