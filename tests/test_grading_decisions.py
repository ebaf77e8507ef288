"""Deciding escalated work: `launcher choose` reads only the launcher's own record of a round,
best-of-N attempts wait for one decision on their task, and whoever approved the winner says so."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import git, launcher_cli, task

from launcher.app.run.choose import choose
from launcher.app.run.runner import RunOptions, start_run
from launcher.errors import UsageProblem
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport

# A grader that fails C1 and passes every other criterion of its packet; it leaves its own files
# in the grading directory, beside its answer (`$LAUNCHER_CONTRACT`), named like verdicts.
SLOPPY_GRADER = r"""
import json, os, pathlib, re, sys
answer = pathlib.Path(os.environ["LAUNCHER_CONTRACT"])
(answer.parent / "draft-verdict.json").write_text("my notes, not JSON\n")
(answer.parent / "99-verdict.json").write_text('{"verdict": "needs_rev')
ids = re.findall(r"^### ([A-Za-z][A-Za-z0-9_-]*)\. ", open(sys.argv[1]).read(), re.M)
answer.write_text(json.dumps({"verdict": "needs_revision", "criterion_results": [
    {"criterion": c, "pass": c != "C1", "justification": "x"} for c in ids],
    "required_fixes": ["more (C1)"], "iteration": 1, "rubric_version": "default@1"}))
"""


def command_graded(repo: Path, tmp_path: Path, grader_source: str, tasks: list[dict[str, Any]],
                   **run: Any) -> RunReport:
    script = tmp_path / "grader.py"
    script.write_text(grader_source)
    plan = validate_plan({"run": {"grader": "g", **run},
                          "agents": {"g": {"adapter": "command",
                                           "command": [sys.executable, str(script), "{packet}"]}},
                          "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def decide(repo: Path, run_id: str, task_id: str, choice: str, note: str = "operator note") -> RunReport:
    return anyio.run(choose, repo, run_id, task_id, choice, note, lambda _e: None)


def test_choose_reads_the_rounds_record_not_stray_verdict_files_in_the_grading_directory(
    repo: Path, tmp_path: Path
) -> None:
    report = command_graded(repo, tmp_path, SLOPPY_GRADER,
                            [{"id": "t", "script": [{"write": "t.txt", "content": "t"}]}], iteration_cap=1)
    assert task(report, "t").state == "escalated"
    after = decide(repo, report.run_id, "t", "tech-debt")
    assert task(after, "t").state == "tech_debt"
    # The ledger names what the grader's real verdict failed, not what its drafts say.
    row = next(line for line in (repo / "TECHNICAL_DEBT.md").read_text().splitlines() if "operator note" in line)
    assert "| C1 |" in row, row


def best_of_two(repo: Path, mode: str, **run: Any) -> RunReport:
    """A best-of-2 task whose attempt K writes out-K.txt (attempt 2 adds a test too)."""
    write = [sys.executable, "-c", (
        "import os, pathlib\n"
        "k = os.environ['LAUNCHER_BEST_OF_ATTEMPT']\n"
        "pathlib.Path(f'out{k}.py').write_text(f'X = {k}\\n')\n"
        "if k == '2':\n"
        "    pathlib.Path('tests').mkdir(exist_ok=True)\n"
        "    pathlib.Path('tests/test_out2.py').write_text('def test_x():\\n    assert True\\n')\n")]
    plan = validate_plan({"run": {"grader": "judge", **run},
                          "agents": {"judge": {"adapter": "scripted-grader",
                                               "set_env": {"LAUNCHER_GRADER_MODE": mode}}},
                          "task": [{"id": "t1", "attempts": 2, "script": [{"run": write}]}]}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def on_main(repo: Path) -> list[str]:
    return [f for f in git(repo, "ls-tree", "--name-only", "main").split() if f.startswith("out")]


def verdict_trailer(repo: Path) -> str:
    return git(repo, "log", "-1", "--format=%(trailers:key=Launcher-Verdict,valueonly)", "main").strip()


def test_a_best_of_task_waits_while_its_attempts_wait_at_the_cap(repo: Path) -> None:
    report = best_of_two(repo, "always_revise", iteration_cap=1)
    assert [task(report, f"t1.attempt-{k}").state for k in (1, 2)] == ["escalated", "escalated"]
    t1 = task(report, "t1")
    assert t1.state == "escalated", t1.message  # not failed: a decision is pending
    assert f"launcher choose {report.run_id} t1 approve|continue|tech-debt|defer" in t1.message
    assert on_main(repo) == [] and report.status == "failed"


def test_approving_the_best_of_task_lands_the_best_attempt_once_and_says_who_approved_it(repo: Path) -> None:
    report = best_of_two(repo, "always_revise", iteration_cap=1)
    after = decide(repo, report.run_id, "t1", "approve")
    t1 = task(after, "t1")
    assert t1.state == "merged" and t1.merged, t1.message
    assert on_main(repo) == ["out1.py"]  # the smaller diff; the other attempt never lands
    assert [task(after, f"t1.attempt-{k}").state for k in (1, 2)] == ["skipped", "skipped"]
    assert "approved by a choice at escalation" in t1.message
    assert verdict_trailer(repo) == "approved-by-choice"
    assert after.status == "succeeded"


def test_a_choice_on_one_attempt_lands_it_as_its_task_and_no_other_attempt_can_land(repo: Path) -> None:
    report = best_of_two(repo, "always_revise", iteration_cap=1)
    after = decide(repo, report.run_id, "t1.attempt-2", "approve")
    t1 = task(after, "t1")
    assert t1.state == "merged" and "t1.attempt-2" not in on_main(repo), t1.message
    assert on_main(repo) == ["out2.py"]
    assert verdict_trailer(repo) == "approved-by-choice"
    # The advice the other attempt carried no longer applies: it was not selected.
    with pytest.raises(UsageProblem, match="not escalated"):
        decide(repo, report.run_id, "t1.attempt-1", "approve")
    assert on_main(repo) == ["out2.py"]


@pytest.mark.parametrize(("choice", "state"), [("defer", "deferred"), ("tech-debt", "tech_debt")])
def test_deferring_a_best_of_task_closes_its_waiting_attempts_with_it(repo: Path, choice: str, state: str) -> None:
    report = best_of_two(repo, "always_revise", iteration_cap=1)
    after = decide(repo, report.run_id, "t1", choice)
    assert task(after, "t1").state == state
    assert [task(after, f"t1.attempt-{k}").state for k in (1, 2)] == ["skipped", "skipped"]
    assert on_main(repo) == [] and after.status == "failed"
    if choice == "tech-debt":  # one row, for the task, naming what its attempts failed
        rows = [line for line in (repo / "TECHNICAL_DEBT.md").read_text().splitlines() if "operator note" in line]
        assert len(rows) == 1 and "`t1`" in rows[0], rows


def test_an_attempt_its_grader_approved_wins_over_one_approved_at_the_cap(repo: Path) -> None:
    # Attempt 1 (smaller diff) is approved only by `--on-cap approve`; attempt 2's grader approved it.
    report = best_of_two(repo, "rule", iteration_cap=1, on_cap="approve")
    t1 = task(report, "t1")
    assert t1.state == "merged", t1.message
    assert on_main(repo) == ["out2.py"] and verdict_trailer(repo) == "approved"
    assert "not by the grader" not in t1.message


def test_a_best_of_winner_approved_by_the_on_cap_policy_lands_as_approved_by_choice(repo: Path) -> None:
    report = best_of_two(repo, "always_revise", iteration_cap=1, on_cap="approve")
    t1 = task(report, "t1")
    assert t1.state == "merged" and "approved by a choice at escalation" in t1.message, t1.message
    assert verdict_trailer(repo) == "approved-by-choice"
    assert t1.rubric_gate == "rubric-pending"  # its winning attempt's grader never said satisfied


SEE_FEEDBACK = [sys.executable, "-c", (
    "import os, pathlib\n"
    "path = os.environ.get('LAUNCHER_FEEDBACK', '')\n"
    "seen = 'none' if not path else 'exists' if os.path.isfile(path) else 'missing'\n"
    "pathlib.Path('feedback-seen.txt').write_text(seen)\n")]


def test_after_continue_on_a_grader_that_gave_no_verdict_the_agent_is_not_pointed_at_missing_fixes(
    repo: Path
) -> None:
    plan = validate_plan({"run": {"grader": "judge"},
                          "agents": {"judge": {"adapter": "scripted-grader",
                                               "set_env": {"LAUNCHER_GRADER_MODE": "garbage"}}},
                          "task": [{"id": "t", "script": [{"write": "t.txt", "content": "t"},
                                                          {"run": SEE_FEEDBACK, "rounds": [2]}]}]}, "test plan")
    report = anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)
    assert task(report, "t").state == "escalated"
    after = decide(repo, report.run_id, "t", "continue")
    worktree = Path(task(after, "t").worktree or "")
    assert (worktree / "feedback-seen.txt").read_text() == "none"


def test_a_dependent_of_an_escalated_task_waits_and_runs_once_a_choice_lands_it(
        repo: Path, tmp_path: Path) -> None:
    # t2 needs t1. t1 waits at the cap for a person's choice: t2 is not failed for good, it waits,
    # and the choice that lands t1 runs it.
    calls = tmp_path / "grader-calls"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"grader": "judge", "iteration_cap": 1},
        "agents": {"judge": {"adapter": "scripted-grader", "set_env": {
            "LAUNCHER_GRADER_MODE": "always_revise,always_satisfied", "LAUNCHER_GRADER_STATE": str(calls)}}},
        "task": [{"id": "t1", "script": [{"write": "t1.txt", "content": "1\n"}]},
                 {"id": "t2", "depends_on": ["t1"], "script": [{"write": "t2.txt", "content": "2\n"}]}]}))
    first = launcher_cli(repo, "run", str(plan), "--json")
    report = json.loads(first.stdout)
    states = {t["id"]: (t["state"], t["message"]) for t in report["tasks"]}
    assert states["t1"][0] == "escalated", states
    assert states["t2"][0] == "skipped" and states["t2"][1].startswith("waiting: dependency 't1' is escalated")
    chosen = launcher_cli(repo, "choose", report["run_id"], "t1", "approve", "--json")
    after = {t["id"]: t["state"] for t in json.loads(chosen.stdout)["tasks"]}
    assert after == {"t1": "merged", "t2": "merged"}, chosen.stdout[-2000:]
    assert (repo / "t2.txt").read_text() == "2\n"


@pytest.mark.parametrize(("policy", "state"), [("defer", "deferred"), ("tech-debt", "tech_debt")])
def test_an_on_cap_policy_closing_every_attempt_closes_the_task_as_a_person_would(
        repo: Path, policy: str, state: str) -> None:
    report = best_of_two(repo, "always_revise", iteration_cap=1, on_cap=policy)
    t1 = task(report, "t1")
    assert t1.state == state and t1.message.startswith("not landed by choice"), t1.message
    assert on_main(repo) == [] and report.status == "failed"
    if policy == "tech-debt":  # one row, for the task, as `choose t1 tech-debt` writes
        rows = [line for line in (repo / "TECHNICAL_DEBT.md").read_text().splitlines() if "--on-cap" in line]
        assert len(rows) == 1 and "`t1`" in rows[0], rows
