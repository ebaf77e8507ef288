"""Accounting: every paid process is counted once, by role (agent, grader), per task and per run;
and claimed versus real: a contract's claims are checked against the branch's diff.

The cost figures are the fake Claude Code's (tests/fakes/claude), which prints the real CLI's
`total_cost_usd` and `usage` for one process: a resumed session reports only its own process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import launcher_cli, run_plan, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport

FAKES = Path(__file__).parent / "fakes"
ONE_PROCESS = 0.0421  # what the fake claude's successful process costs
ONE_PROCESS_INPUT_TOKENS = 14


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}:{os.environ['PATH']}")


def _run(repo: Path, agents: dict[str, Any], tasks: list[dict[str, Any]], **run: Any) -> RunReport:
    plan = validate_plan({"run": run, "agents": agents, "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def _satisfied_answer(tmp_path: Path) -> Path:
    answer = tmp_path / "verdict.json"
    answer.write_text(json.dumps({
        "verdict": "satisfied", "required_fixes": [], "iteration": 1, "rubric_version": "default@1",
        "criterion_results": [{"criterion": f"C{n}", "pass": True, "justification": "checked"}
                              for n in range(1, 8)],
    }))
    return answer


def test_a_corrective_round_adds_its_cost_to_the_first_attempts(repo: Path) -> None:
    # Attempt 1 answers without structured output (paid), attempt 2 resumes the session (paid).
    agents = {"bot": {"adapter": "claude", "set_env": {"FAKE_MODE": "no_structured_output,success"}}}
    report = _run(repo, agents, [{"id": "t1", "agent": "bot", "prompt": "Add a greeting"}])
    t1 = task(report, "t1")
    assert t1.state == "merged", t1.message
    assert t1.cost_usd == pytest.approx(2 * ONE_PROCESS)
    assert t1.usage["agent"].cost_usd == pytest.approx(2 * ONE_PROCESS)
    assert t1.usage["agent"].tokens["input_tokens"] == 2 * ONE_PROCESS_INPUT_TOKENS
    facts = json.loads((Path(report.artifacts) / "t1" / "facts.json").read_text())
    assert facts["cost_usd"] == pytest.approx(2 * ONE_PROCESS)
    assert report.usage["agent"].cost_usd == pytest.approx(2 * ONE_PROCESS)


def test_a_satisfied_graders_cost_is_counted_apart_from_the_agents(repo: Path, tmp_path: Path) -> None:
    agents = {
        "bot": {"adapter": "claude", "set_env": {"FAKE_MODE": "success"}},
        "judge": {"adapter": "claude", "set_env": {"FAKE_ANSWER": str(_satisfied_answer(tmp_path))}},
    }
    report = _run(repo, agents, [{"id": "t1", "agent": "bot", "prompt": "Add a greeting"}], grader="judge")
    t1 = task(report, "t1")
    assert t1.state == "merged", t1.message
    assert t1.usage["agent"].cost_usd == pytest.approx(ONE_PROCESS)
    assert t1.usage["grader"].cost_usd == pytest.approx(ONE_PROCESS)
    assert t1.usage["grader"].tokens["output_tokens"] == 612
    assert t1.cost_usd == pytest.approx(2 * ONE_PROCESS)
    assert report.usage["grader"].cost_usd == pytest.approx(ONE_PROCESS)
    assert report.usage["judge"].cost_usd is None  # no judge ran in this run


def test_an_escalating_graders_cost_is_counted(repo: Path) -> None:
    # The fake claude cannot fit the verdict schema without FAKE_ANSWER: three paid, invalid answers.
    agents = {"bot": {"adapter": "claude", "set_env": {"FAKE_MODE": "success"}},
              "judge": {"adapter": "claude"}}
    report = _run(repo, agents, [{"id": "t1", "agent": "bot", "prompt": "Add a greeting"}], grader="judge")
    t1 = task(report, "t1")
    assert t1.state == "escalated", t1.message
    assert t1.usage["grader"].cost_usd == pytest.approx(3 * 0.0934)
    assert t1.cost_usd == pytest.approx(ONE_PROCESS + 3 * 0.0934)


def test_run_json_reports_usage_per_task_and_for_the_run(repo: Path) -> None:
    plan = repo.parent / "plan.json"
    plan.write_text(json.dumps({
        "agents": {"bot": {"adapter": "claude", "set_env": {"FAKE_MODE": "success"}}},
        "task": [{"id": "a", "agent": "bot", "prompt": "x"}, {"id": "b", "agent": "bot", "prompt": "y"}],
    }))
    done = launcher_cli(repo, "run", str(plan), "--json", "--quiet",
                        env={"PATH": f"{FAKES}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [t["usage"]["agent"]["cost_usd"] for t in report["tasks"]] == [ONE_PROCESS, ONE_PROCESS]
    assert report["usage"]["agent"]["cost_usd"] == pytest.approx(2 * ONE_PROCESS)
    assert report["usage"]["agent"]["tokens"]["input_tokens"] == 2 * ONE_PROCESS_INPUT_TOKENS
    assert set(report["usage"]) == {"agent", "grader", "judge"}


# --- claimed versus real -------------------------------------------------------------------------

def _contract(files: list[str]) -> dict[str, Any]:
    return {"contract_version": "1", "task_id": "t", "status": "done", "summary": "did it",
            "files_changed": files, "tests_added": [], "decisions": [], "blockers": [],
            "llm_observations": "claims checked against git"}


def test_a_task_that_claims_files_but_changed_nothing_fails_and_the_run_fails(repo: Path) -> None:
    report = run_plan(repo, [{"id": "t", "script": [{"contract": _contract(["src/new.py"])}]}])
    t = task(report, "t")
    assert t.state == "failed"
    assert "claims 1 changed file(s) (src/new.py)" in t.message and "changed nothing" in t.message
    assert t.claimed_not_changed == ["src/new.py"]
    assert report.status == "failed"


def test_a_task_that_claims_nothing_and_changes_nothing_is_still_a_clean_skip(repo: Path) -> None:
    report = run_plan(repo, [{"id": "t", "script": [{"contract": _contract([])}]}])
    assert task(report, "t").state == "skipped"
    assert report.status == "succeeded"


def test_every_disagreement_shows_in_report_and_status(repo: Path) -> None:
    report = run_plan(repo, [{"id": "t", "script": [
        {"write": "real.py", "content": "x = 1\n"},
        {"contract": _contract(["./claimed.py", "real.py"])},
    ]}])
    t = task(report, "t")
    assert t.state == "merged", t.message
    assert t.claimed_not_changed == ["claimed.py"]
    assert t.changed_not_claimed == []
    status = launcher_cli(repo, "status", report.run_id)
    assert "claimed but not changed: claimed.py" in status.stdout
    as_json = json.loads(launcher_cli(repo, "status", report.run_id, "--json").stdout)
    assert as_json["tasks"][0]["claimed_not_changed"] == ["claimed.py"]


def test_a_variable_the_agent_config_names_wins_over_the_adapters_default(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "1")
    log = tmp_path / "argv.jsonl"
    agents = {"bot": {"adapter": "claude", "env": ["CLAUDE_CODE_MAX_RETRIES"],
                      "set_env": {"FAKE_MODE": "success", "FAKE_ARGV_LOG": str(log)}}}
    report = _run(repo, agents, [{"id": "t1", "agent": "bot", "prompt": "Add a greeting"}])
    assert task(report, "t1").state == "merged"
    (call,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert call["env"]["CLAUDE_CODE_MAX_RETRIES"] == "1"
