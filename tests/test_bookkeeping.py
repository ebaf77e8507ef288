"""Bookkeeping of grading, best-of-N, epics and setup: what the journal, the report and the
exit code say is what happened."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import git, resume, run_plan, task

from launcher.app.run.choose import choose
from launcher.app.run.runner import RunOptions, start_run
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
    # Nothing landed: not `succeeded` (exit 0 is "everything landed"), and the message says why.
    assert after.status == again.status == "failed"
    assert after.message == "not landed by choice: t (deferred)"


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
    # `code` did not land (failed, exit 1), but nothing was parked: docs is on main.
    assert report.status == "failed" and report.integration_branch is None
    assert report.message.endswith("not landed by choice: code (tech debt)"), report.message
    assert "notes.txt" in git(repo, "ls-tree", "--name-only", "main")
    assert "`code`" in (repo / "TECHNICAL_DEBT.md").read_text()  # the row stays, uncommitted


# --- best-of-N -----------------------------------------------------------------------------------

NUMBERED_AGENT = r'''
import json, os, pathlib
k = os.environ["LAUNCHER_BEST_OF_ATTEMPT"]
assert os.environ["LAUNCHER_BEST_OF_N"] == "2"
if k == "1":  # the better attempt: satisfies the rubric check, with the bigger diff
    pathlib.Path("MARKER").write_text("m\n")
    pathlib.Path("big.txt").write_text("line\n" * 40)
    files = ["MARKER", "big.txt"]
else:  # the smaller diff that fails the rubric check
    pathlib.Path("small.txt").write_text("s\n")
    files = ["small.txt"]
pathlib.Path(os.environ["LAUNCHER_CONTRACT"]).write_text(json.dumps({
    "contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
    "summary": "attempt " + k, "files_changed": files, "tests_added": [], "decisions": [],
    "blockers": [], "llm_observations": "numbered attempt " + k}))
'''


def test_best_of_counts_rubric_checks_and_each_attempt_knows_its_number(repo: Path) -> None:
    import sys

    (repo / "rubrics").mkdir()
    (repo / "rubrics" / "backend.md").write_text(
        "---\nversion: 1\nname: backend\nextends: default\n---\n\n"
        "### B1. The marker file exists.\n\nThe task must create MARKER.\n\ncheck: test -f MARKER\n"
    )
    git(repo, "add", "rubrics")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "rubric")
    plan = validate_plan({
        "run": {"grader": "judge", "iteration_cap": 1, "on_cap": "approve"},
        "agents": {"judge": {"adapter": "scripted-grader",
                             "set_env": {"LAUNCHER_GRADER_MODE": "always_satisfied"}},
                   "bot": {"adapter": "command", "command": [sys.executable, "-c", NUMBERED_AGENT]}},
        "task": [{"id": "feat", "role": "backend", "agent": "bot", "attempts": 2}],
    }, "test plan")
    report = anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)
    feat = task(report, "feat")
    assert feat.state == "merged", feat.message
    assert feat.branch and feat.branch.endswith("/feat.attempt-1")
    selected = [m for _f, to, m, _at in history(repo, report.run_id, "feat") if to == "approved"]
    assert selected and selected[0].startswith("best of 2: feat.attempt-1 (")
    assert (repo / "MARKER").exists() and not (repo / "small.txt").exists()


# --- epics ---------------------------------------------------------------------------------------

def test_a_blocked_epic_lands_none_of_its_tasks(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "api", "epic": "login", "script": [{"write": "api.txt", "content": "a\n"}]},
        {"id": "ui", "epic": "login", "script": [{"write": "ui.txt", "content": "u\n"}],
         "checks": ["false"]},
        {"id": "other", "script": [{"write": "other.txt", "content": "o\n"}]},
    ])
    assert task(report, "ui").state == "failed"
    api = task(report, "api")
    assert api.state == "skipped" and "epic 'login' is blocked" in api.message, api.message
    assert api.branch and "api.txt" in git(repo, "ls-tree", "--name-only", api.branch)  # kept
    tracked = git(repo, "ls-tree", "--name-only", "main")
    assert "api.txt" not in tracked and "other.txt" in tracked
    assert [e.decision for e in report.epics] == ["block"]
    assert report.status == "failed"


def test_best_of_attempts_are_not_sharers_of_their_tasks_files(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "doc", "epic": "docs", "attempts": 2, "script": [{"write": "doc.txt", "content": "d\n"}]},
    ])
    assert task(report, "doc").state == "merged"
    (epic,) = report.epics
    assert epic.decision == "pass" and epic.tasks == ["doc"] and epic.shared_files == {}


# --- setup and ports -----------------------------------------------------------------------------

def test_setup_gets_the_tasks_launcher_variables(repo: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    setup = f'printf "%s %s %s" "$LAUNCHER_PORT_BASE" "$LAUNCHER_ROLE" "$LAUNCHER_TASK_ID" > {seen}'
    report = run_plan(repo, [{"id": "t", "role": "backend", "setup": setup,
                              "script": [{"write": "t.txt", "content": "t\n"}]}])
    assert task(report, "t").state == "merged", task(report, "t").message
    port, role, task_id = seen.read_text().split()
    assert int(port) >= 20000 and (role, task_id) == ("backend", "t")


def test_a_failed_setup_shows_its_exit_code_and_output(repo: Path) -> None:
    report = run_plan(repo, [{"id": "t", "setup": "echo preparing; echo 'no such tool: npm' >&2; exit 7",
                              "script": [{"write": "t.txt", "content": "t\n"}]}])
    t = task(report, "t")
    assert t.state == "failed"
    assert "exit 7" in t.message and "no such tool: npm" in t.message and "setup.log" in t.message
    assert "preparing" in (Path(report.artifacts) / "t" / "setup.log").read_text()


def test_setup_output_git_does_not_ignore_is_refused_not_committed_as_the_agents(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "t", "setup": "echo generated > schema.gen.txt; mkdir -p build; echo ok > build/cache",
         "script": [{"write": "t.txt", "content": "t\n"}]},
    ])
    t = task(report, "t")
    assert t.state == "failed"
    assert "left files git does not ignore: schema.gen.txt;" in t.message  # build/ is ignored
    assert "schema.gen.txt" not in git(repo, "ls-tree", "-r", "--name-only", "main")


def test_two_runs_at_once_never_share_a_port_block(repo: Path, tmp_path: Path) -> None:
    # The first run's launcher (this process) is alive: its blocks stay claimed.
    ports = []
    for n in (1, 2):
        seen = tmp_path / f"port-{n}.txt"
        report = run_plan(repo, [{"id": "t", "setup": f'echo "$LAUNCHER_PORT_BASE" > {seen}',
                                  "script": [{"write": f"t{n}.txt", "content": "t\n"}]}])
        assert task(report, "t").state == "merged"
        ports.append(int(seen.read_text()))
    assert ports[0] != ports[1]


def test_a_resumed_task_keeps_its_block_and_a_dead_claim_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from launcher.errors import EnvironmentProblem
    from launcher.store import ports

    monkeypatch.setattr(ports, "PORT_END", ports.PORT_START + 2 * ports.PORT_BLOCK)  # two blocks
    registry = tmp_path / "ports.json"
    first = ports.claim_block("r-1", "t", path=registry)
    assert ports.claim_block("r-1", "t", path=registry) == first  # resume: the same block
    second = ports.claim_block("r-2", "t", path=registry)
    assert second != first
    with pytest.raises(EnvironmentProblem):
        ports.claim_block("r-3", "t", path=registry)  # both held by a live launcher (this one)
    claims = json.loads(registry.read_text())
    claims[str(first)]["pid"] = 2**22 + 12345  # r-1's launcher is gone
    registry.write_text(json.dumps(claims))
    assert ports.claim_block("r-3", "t", path=registry) == first


def test_the_port_registry_keeps_only_the_newest_claims_of_launchers_that_are_gone(tmp_path: Path) -> None:
    # Every run leaves its claims behind; a registry grown to every block would be read and
    # rewritten on each claim of every task. Old dead claims go, recent ones stay for a resume.
    from launcher.store import ports

    registry = tmp_path / "ports.json"
    gone = 2**22 + 12345
    old = {str(ports.PORT_START + i * ports.PORT_BLOCK): {"run": f"r-{i}", "task": "t", "pid": gone, "at": i}
           for i in range(ports.KEEP_DEAD + 40)}
    old["garbage"] = "not a claim"  # type: ignore[assignment]
    registry.write_text(json.dumps(old))
    newest = ports.KEEP_DEAD + 39
    mine = ports.claim_block(f"r-{newest}", "t", path=registry)  # a resume of the newest run
    assert mine == ports.PORT_START + newest * ports.PORT_BLOCK
    claims = json.loads(registry.read_text())
    assert len(claims) == ports.KEEP_DEAD + 1  # the kept dead ones and this live claim
    assert str(ports.PORT_START) not in claims  # the oldest went
    assert claims[str(mine)]["pid"] == os.getpid()


# --- what the operator reads ---------------------------------------------------------------------

def test_logs_follow_returns_on_an_escalated_task(repo: Path) -> None:
    from helpers import launcher_cli

    report = graded(repo, [{"id": "t", "script": [{"write": "t.txt", "content": "t"}]}],
                    ALWAYS_REVISE, iteration_cap=1)
    assert task(report, "t").state == "escalated"
    followed = launcher_cli(repo, "logs", "-f", report.run_id, "t", timeout=20)
    assert followed.returncode == 0 and "scripted agent finished t" in followed.stdout


def test_step_summary_has_epics_kept_branches_and_no_raw_html(repo: Path) -> None:
    from launcher.ui.summary import markdown_summary

    report = run_plan(repo, [
        {"id": "api", "epic": "login", "script": [{"write": "api.txt", "content": "a\n"}]},
        {"id": "ui", "epic": "login", "script": [{"write": "ui.txt", "content": "u\n"}],
         "checks": ["echo '<img src=x onerror=alert(1)>'; exit 1"]},
    ])
    md = markdown_summary(report)
    assert "epic login: block" in md
    ui = task(report, "ui")
    assert ui.branch and f"`{ui.branch}`" in md and "Kept for inspection" in md
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md


def test_the_grading_packet_is_titled_with_its_task(repo: Path) -> None:
    report = graded(repo, [{"id": "docs", "script": [{"write": "notes.txt", "content": "n\n"}]}], RULE)
    assert task(report, "docs").state == "merged"
    packet = (Path(report.artifacts) / "docs" / "grading" / "1-packet.md").read_text()
    assert "# Grading packet: task docs\n" in packet
