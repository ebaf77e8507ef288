"""Bookkeeping of grading, best-of-N, epics and setup: what the journal, the report and the
exit code say is what happened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from helpers import git, resume, task

from launcher.app.choose import choose
from launcher.app.run import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport
from launcher.store.journal import Journal

ALWAYS_REVISE = {"adapter": "scripted-grader", "set_env": {"LAUNCHER_GRADER_MODE": "always_revise"}}
RULE = {"adapter": "scripted-grader"}  # code without a test fails C2; anything else is satisfied


def graded(repo: Path, tasks: list[dict[str, Any]], grader: dict[str, Any], **run: Any) -> RunReport:
    plan = validate_plan({"run": {"grader": "judge", **run}, "agents": {"judge": grader},
                          "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def history(repo: Path, run_id: str, task_id: str) -> list[tuple[str | None, str, str, float]]:
    return Journal(repo / ".launcher" / "launcher.db").history(run_id, task_id)


def test_on_cap_approve_journals_one_approval_and_no_false_rubric_satisfied(repo: Path) -> None:
    report = graded(repo, [{"id": "t", "script": [{"write": "t.txt", "content": "t"}]}],
                    ALWAYS_REVISE, iteration_cap=1, on_cap="approve")
    assert task(report, "t").state == "merged"
    approvals = [(to, message) for _f, to, message, _at in history(repo, report.run_id, "t")
                 if to == "approved"]
    assert approvals == [("approved", "approved at escalation: --on-cap approve")]


def test_choose_defer_recomputes_the_run_status_and_resume_agrees(repo: Path) -> None:
    report = graded(repo, [{"id": "t", "script": [{"write": "t.txt", "content": "t"}]}],
                    ALWAYS_REVISE, iteration_cap=1)
    assert report.status == "failed"  # escalated: waits for a person
    after = anyio.run(choose, repo, report.run_id, "t", "defer", "later", lambda _e: None)
    assert task(after, "t").state == "deferred"
    again = resume(repo, report.run_id)
    assert after.status == again.status == "succeeded"


def test_a_tech_debt_row_in_a_committed_ledger_does_not_park_the_other_landings(repo: Path) -> None:
    (repo / "TECHNICAL_DEBT.md").write_text("# Technical debt\n")
    git(repo, "add", "TECHNICAL_DEBT.md")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "ledger")
    report = graded(repo, [
        {"id": "code", "script": [{"write": "src/feature.py", "content": "x = 1\n"}]},  # never satisfied
        {"id": "docs", "script": [{"write": "notes.txt", "content": "n\n"}]},
    ], RULE, iteration_cap=1, on_cap="tech-debt")
    assert task(report, "code").state == "tech_debt"
    assert task(report, "docs").state == "merged", task(report, "docs").message
    assert report.status == "succeeded" and report.integration_branch is None
    assert "notes.txt" in git(repo, "ls-tree", "--name-only", "main")
    assert "`code`" in (repo / "TECHNICAL_DEBT.md").read_text()  # the row stays, uncommitted
