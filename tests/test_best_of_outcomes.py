"""What becomes of a best-of-N task's attempts: the budget never strands an approved attempt, a
losing attempt's commits stay reachable, and the ledger holds one row per decision."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import git, launcher_cli, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture
def fake_claude(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The faithful fake of Claude Code first on PATH; each run reports $0.0421."""
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    return {"FAKE_MODE": "success", "FAKE_ARGV_LOG": str(tmp_path / "argv.jsonl")}


def run_plan_dict(repo: Path, plan: dict[str, Any], **options: Any) -> RunReport:
    return anyio.run(start_run, repo, validate_plan(plan, "test plan"), RunOptions(**options), lambda _e: None)


def argv_count(tmp_path: Path) -> int:
    log = tmp_path / "argv.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_an_attempt_approved_before_the_budget_ran_out_lands_as_its_task(
    repo: Path, tmp_path: Path, fake_claude: dict[str, str]
) -> None:
    # Attempt 1 runs ($0.0421) and is approved; the $0.04 budget then stops attempts 2 and 3.
    # Selecting among the attempts that ran starts no agent: it is not refused by the budget.
    report = run_plan_dict(
        repo,
        {
            "run": {"max_parallel": 1},
            "agents": {"claude": {"adapter": "claude", "set_env": fake_claude}},
            "task": [{"id": "t", "agent": "claude", "attempts": 3, "prompt": "work"}],
        },
        budget_usd=0.04,
    )
    t = task(report, "t")
    assert t.state == "merged" and t.merged, t.message
    assert "not started" not in t.message
    assert (repo / "claude_t.attempt-1.txt").exists()
    assert argv_count(tmp_path) == 1  # no attempt started past the budget
    for k in (2, 3):
        skipped = task(report, f"t.attempt-{k}")
        assert skipped.state == "skipped" and "not started: run budget $0.04 reached" in skipped.message


def test_a_best_of_task_none_of_whose_attempts_started_is_skipped_for_the_budget(
    repo: Path, tmp_path: Path, fake_claude: dict[str, str]
) -> None:
    report = run_plan_dict(
        repo,
        {
            "agents": {"claude": {"adapter": "claude", "set_env": fake_claude}},
            "task": [{"id": "t", "agent": "claude", "attempts": 2, "prompt": "work"}],
        },
        budget_usd=0,
    )
    t = task(report, "t")
    assert t.state == "skipped" and t.message.startswith("not started: run budget $0.00 reached"), t.message
    assert argv_count(tmp_path) == 0


def test_a_best_of_task_waiting_on_an_escalated_dependency_runs_and_lands_once_a_choice_lands_it(
    repo: Path, tmp_path: Path
) -> None:
    # t needs x; x waits at the cap, so none of t's attempts starts and t waits too (not failed).
    calls = tmp_path / "grader-calls"
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "run": {"grader": "judge", "iteration_cap": 1},
                "agents": {
                    "judge": {
                        "adapter": "scripted-grader",
                        "set_env": {
                            "LAUNCHER_GRADER_MODE": "always_revise,always_satisfied",
                            "LAUNCHER_GRADER_STATE": str(calls),
                        },
                    }
                },
                "task": [
                    {"id": "x", "script": [{"write": "x.txt", "content": "x\n"}]},
                    {"id": "t", "attempts": 2, "depends_on": ["x"], "script": [{"write": "t.txt", "content": "t\n"}]},
                ],
            }
        )
    )
    first = json.loads(launcher_cli(repo, "run", str(plan), "--json").stdout)
    t = next(row for row in first["tasks"] if row["id"] == "t")
    assert t["state"] == "skipped" and t["message"].startswith("waiting: dependency 'x' is escalated"), t
    chosen = launcher_cli(repo, "choose", first["run_id"], "x", "approve", "--json")
    after = {row["id"]: row["state"] for row in json.loads(chosen.stdout)["tasks"]}
    assert after["x"] == "merged" and after["t"] == "merged", chosen.stdout[-2000:]
    assert (repo / "t.txt").read_text() == "t\n"


def escalating_best_of_two(repo: Path, **run: Any) -> RunReport:
    """A best-of-2 task whose attempts both wait at the iteration cap (the grader never agrees)."""
    return run_plan_dict(
        repo,
        {
            "run": {"grader": "judge", "iteration_cap": 1, **run},
            "agents": {"judge": {"adapter": "scripted-grader", "set_env": {"LAUNCHER_GRADER_MODE": "always_revise"}}},
            "task": [{"id": "t", "attempts": 2, "script": [{"write": "t.txt", "content": "t\n"}]}],
        },
    )


def ledger_rows(repo: Path) -> list[str]:
    return [line for line in (repo / "TECHNICAL_DEBT.md").read_text().splitlines() if line.startswith("| 2")]


def test_a_tech_debt_choice_on_each_attempt_writes_one_row_per_choice_and_none_claims_on_cap(repo: Path) -> None:
    report = escalating_best_of_two(repo)
    assert task(report, "t").state == "escalated"
    launcher_cli(repo, "choose", report.run_id, "t.attempt-1", "tech-debt", "--note", "first")
    after = json.loads(
        launcher_cli(repo, "choose", report.run_id, "t.attempt-2", "tech-debt", "--note", "second", "--json").stdout
    )
    assert next(row for row in after["tasks"] if row["id"] == "t")["state"] == "tech_debt"
    rows = ledger_rows(repo)
    assert len(rows) == 2, rows
    assert "`t.attempt-1`" in rows[0] and rows[0].endswith("| first |")
    assert "`t.attempt-2`" in rows[1] and rows[1].endswith("| second |")
    assert not any("--on-cap" in row for row in rows)


def test_on_cap_tech_debt_on_every_attempt_is_one_row_for_the_task(repo: Path) -> None:
    report = escalating_best_of_two(repo, on_cap="tech-debt")
    assert task(report, "t").state == "tech_debt"
    rows = ledger_rows(repo)
    assert len(rows) == 1 and "`t`" in rows[0] and "--on-cap tech-debt (all 2 attempts)" in rows[0], rows


def test_a_losing_attempts_commits_stay_reachable_until_clean_force(repo: Path, tmp_path: Path) -> None:
    # Attempt 1's work fails the task's check, attempt 2's passes: attempt 2 lands, and attempt
    # 1's branch goes, but not its agent's commit (README Safety: none is deleted without --force).
    write = [
        sys.executable,
        "-c",
        (
            "import os, pathlib\n"
            "k = os.environ['LAUNCHER_BEST_OF_ATTEMPT']\n"
            "pathlib.Path('a.txt').write_text('good\\n' if k == '2' else 'long bad work\\n')\n"
        ),
    ]
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps({"task": [{"id": "t", "attempts": 2, "script": [{"run": write}], "checks": ["grep -q good a.txt"]}]})
    )
    report = json.loads(launcher_cli(repo, "run", str(plan), "--json").stdout)
    run_id = report["run_id"]
    states = {row["id"]: (row["state"], row["message"]) for row in report["tasks"]}
    assert states["t"][0] == "merged" and (repo / "a.txt").read_text() == "good\n"
    kept = f"refs/launcher/{run_id}/t.attempt-1/not-selected"
    assert states["t.attempt-1"][0] == "skipped" and f"its commits kept as {kept}" in states["t.attempt-1"][1]
    facts = json.loads((repo / ".launcher" / "runs" / run_id / "t.attempt-1" / "facts.json").read_text())
    loser = facts["head_sha"]
    assert git(repo, "show", f"{loser}:a.txt") == "long bad work\n"
    assert git(repo, "for-each-ref", "--contains", loser, "--format=%(refname)").split() == [kept]

    cleaned = launcher_cli(repo, "clean", run_id)
    assert f"kept ref {kept}" in cleaned.stdout + cleaned.stderr
    assert git(repo, "rev-parse", kept).strip() == loser
    launcher_cli(repo, "clean", run_id, "--force")
    assert git(repo, "for-each-ref", f"refs/launcher/{run_id}/").strip() == ""
