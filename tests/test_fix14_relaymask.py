"""A grader's or judge's answer is validated as it was written; only its prose is masked.

The values the launcher passes (an agent's `env`, 8+ characters) are masked as `***(NAME)` in
what people read and what is kept, never in what the launcher compares. The grader and judge
relays masked the whole answer before parsing it: a grader passed DEPLOY_ENV=production that
graded task `deploy-production` against criterion `production_ready` had its valid verdict
refused three times (`task_id_mismatch`: "deploy-***(DEPLOY_ENV)") and the task escalated; a
judge passed a value that is one of its classifications had every answer refused. The answer is
now parsed and validated raw; its justifications, fixes and the errors quoting it are masked
before they are written, journaled or shown."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.gates import judge_relay
from launcher.models.plan import AgentConfig
from tests.conftest import git
from tests.helpers import judge_one_survivor

VALUE = "production"  # DEPLOY_ENV: 10 characters, masked wherever people read it
MARK = "***(DEPLOY_ENV)"
TOKEN = "grader-tok-FAKE-9f9f9f"  # GRADER_TOKEN
RELEASE_RUBRIC = """---
version: 1
name: release
---

# Release rubric (v1)

## Criteria

### production_ready. The change is ready to ship.

Evidence that satisfies it: the diff.
"""


def run_graded(repo: Path, tmp_path: Path, verdict: dict[str, object]) -> subprocess.CompletedProcess[str]:
    """`launcher run` of task `deploy-production` (rubrics default + release) graded by a command
    grader passed DEPLOY_ENV and GRADER_TOKEN, answering `verdict` (`$GRADER_TOKEN` in it expanded)."""
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    (repo / "rubrics").mkdir()
    (repo / "rubrics" / "release.md").write_text(RELEASE_RUBRIC)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "release rubric")
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps(verdict))
    grader = tmp_path / "grader.sh"
    grader.write_text(f'#!/bin/sh\nsed "s/GRADER_TOKEN_VALUE/$GRADER_TOKEN/g" {answer} > "$LAUNCHER_CONTRACT"\n')
    grader.chmod(0o755)
    plan = tmp_path / "plan.toml"
    plan.write_text('[run]\ngrader = "rev"\niteration_cap = 1\n\n'
                    '[agents.bot]\nadapter = "command"\n'
                    'command = ["sh", "-c", "echo more >> app.py && git add -A && git commit -qm work"]\n\n'
                    f'[agents.rev]\nadapter = "command"\ncommand = ["{grader}"]\n'
                    'env = ["DEPLOY_ENV", "GRADER_TOKEN"]\n\n'
                    '[[task]]\nid = "deploy-production"\nagent = "bot"\nprompt = "p"\nrubrics = ["release"]\n')
    env = {**os.environ, "DEPLOY_ENV": VALUE, "GRADER_TOKEN": TOKEN}
    return subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--no-merge"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=180)


def criteria(justification: str, failing: str | None = None) -> list[dict[str, object]]:
    return [{"criterion": cid, "pass": cid != failing, "justification": justification}
            for cid in [*(f"C{n}" for n in range(1, 8)), "production_ready"]]


def journal_rows(repo: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(repo / ".launcher" / "launcher.db") as db:
        return db.execute(sql).fetchall()


def test_a_valid_verdict_whose_ids_hold_a_passed_value_is_accepted_and_its_prose_masked(
        repo: Path, tmp_path: Path) -> None:
    verdict = {"task_id": "deploy-production", "verdict": "satisfied", "iteration": 1,
               "rubric_version": "default@1+release@1", "required_fixes": [],
               "criterion_results": criteria("fit for production")}
    done = run_graded(repo, tmp_path, verdict)
    (state,) = journal_rows(repo, "SELECT state FROM tasks WHERE task_id='deploy-production'")
    assert state == ("approved",), done.stdout + done.stderr
    (errors,) = journal_rows(repo, "SELECT error_key, audit FROM rounds")
    assert errors[0] is None and "satisfied" in str(errors[1])
    (kept,) = list((repo / ".launcher").rglob("1-verdict.json"))
    written = json.loads(kept.read_text())
    # What the launcher compares, as the grader wrote it (and as a resume re-reads it) ...
    assert written["task_id"] == "deploy-production"
    assert [r["criterion"] for r in written["criterion_results"]][-1] == "production_ready"
    # ... what people read, masked (a criterion a rubric `check:` decided says so instead).
    graded = [r for r in written["criterion_results"] if r["criterion"] not in written.get("overridden", [])]
    assert "production_ready" in [r["criterion"] for r in graded]
    assert {r["justification"] for r in graded} == {f"fit for {MARK}"}


def test_a_revision_verdicts_fixes_and_justifications_are_masked_in_every_record(
        repo: Path, tmp_path: Path) -> None:
    verdict = {"task_id": "deploy-production", "verdict": "needs_revision", "iteration": 1,
               "rubric_version": "default@1+release@1",
               "required_fixes": ["stop printing GRADER_TOKEN_VALUE to production logs"],
               "criterion_results": criteria("GRADER_TOKEN_VALUE leaks", failing="production_ready")}
    run_graded(repo, tmp_path, verdict)
    (state,) = journal_rows(repo, "SELECT state FROM tasks WHERE task_id='deploy-production'")
    assert state == ("escalated",)  # the cap of 1 reached with production_ready failing: graded, not invalid
    (audit,) = journal_rows(repo, "SELECT audit, error_key FROM rounds")
    assert audit[1] is None and "production_ready" in str(audit[0])
    (kept,) = list((repo / ".launcher").rglob("1-verdict.json"))
    assert "***(GRADER_TOKEN) leaks" in kept.read_text()
    (feedback,) = list((repo / ".launcher").rglob("1-feedback.md"))
    assert "***(GRADER_TOKEN)" in feedback.read_text() and "production_ready" in feedback.read_text()
    everything = b"".join(p.read_bytes() for p in (repo / ".launcher").rglob("*")
                          if p.is_file() and p.name != "agent.log")  # the grader's raw transcript
    assert TOKEN.encode() not in everything


def test_an_invalid_answer_is_refused_for_what_it_says_and_the_error_quoting_it_is_masked(
        repo: Path, tmp_path: Path) -> None:
    # A criterion the rubrics do not have, named with the grader's token: refused (criterion_unknown)
    # for that, and neither the hint sent back to it, nor the journal's round, nor a note shows it.
    results = [*criteria("ok"), {"criterion": "leak_GRADER_TOKEN_VALUE", "pass": True, "justification": "ok"}]
    verdict = {"task_id": "deploy-production", "verdict": "satisfied", "iteration": 1,
               "rubric_version": "default@1+release@1", "required_fixes": [], "criterion_results": results}
    run_graded(repo, tmp_path, verdict)
    (state,) = journal_rows(repo, "SELECT state FROM tasks WHERE task_id='deploy-production'")
    assert state == ("escalated",)
    (round_row,) = journal_rows(repo, "SELECT error_key FROM rounds")
    assert str(round_row[0]).startswith("criterion_unknown:leak_***(GRADER_TOKEN)")
    hints = list((repo / ".launcher").rglob("1-hint-*.json"))
    assert len(hints) == 3 and all("criterion_unknown:leak_***(GRADER_TOKEN)" in h.read_text() for h in hints)
    everything = b"".join(p.read_bytes() for p in (repo / ".launcher").rglob("*")
                          if p.is_file() and p.name != "agent.log")
    assert TOKEN.encode() not in everything


def test_a_task_id_that_differs_only_where_a_value_is_masked_is_still_refused(
        repo: Path, tmp_path: Path) -> None:
    # Masked before parsing, `deploy-<token>` and `deploy-<other token>` could both read as the
    # same text; raw, a verdict for another task is a verdict for another task.
    verdict = {"task_id": "deploy-productionX", "verdict": "satisfied", "iteration": 1,
               "rubric_version": "default@1+release@1", "required_fixes": [], "criterion_results": criteria("ok")}
    run_graded(repo, tmp_path, verdict)
    (round_row,) = journal_rows(repo, "SELECT error_key FROM rounds")
    assert round_row[0] == "task_id_mismatch"


# -- the mutation judge ----------------------------------------------------------------------

JUDGE_VALUE = "equivalent"  # JUDGE_MODE: one of the judge's own classifications


def run_judge(repo: Path, answer: dict[str, object]) -> judge_relay.JudgeOutcome:
    answer_file = repo.parent / "judge-answer.json"
    answer_file.write_text(json.dumps(answer))
    config = AgentConfig.model_validate({"adapter": "command", "env": ["JUDGE_MODE"],
                                         "command": ["sh", "-c", f'cat {answer_file} > "$LAUNCHER_CONTRACT"']})

    return judge_one_survivor(repo, config)


def test_a_judge_passed_a_value_equal_to_a_classification_gets_its_valid_answer_taken(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGE_MODE", JUDGE_VALUE)
    outcome = run_judge(repo, {"contract_version": "1", "verdicts": [
        {"id": 1, "classification": "equivalent", "confidence": 0.9, "justification": "equivalent: a + b == a - b?"}]})
    assert outcome.verdict is not None, outcome.error
    (call,) = outcome.verdict.verdicts
    assert call.classification == "equivalent"
    assert call.justification == "***(JUDGE_MODE): a + b == a - b?"
    assert outcome.verdict_path is not None
    kept = json.loads(outcome.verdict_path.read_text())["verdicts"][0]
    assert kept["classification"] == "equivalent" and kept["justification"].startswith("***(JUDGE_MODE)")


def test_a_judges_invalid_answer_is_refused_for_itself_and_its_error_masked(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGE_MODE", JUDGE_VALUE)
    outcome = run_judge(repo, {"contract_version": "1", "verdicts": [
        {"id": 1, "classification": "equivalent-ish", "confidence": 0.9, "justification": "j"}]})
    assert outcome.verdict is None and outcome.error is not None
    assert "***(JUDGE_MODE)-ish" in outcome.error and JUDGE_VALUE not in outcome.error
    hints = list((repo.parent / "sweep" / "judge").glob("hint-*.json"))
    assert hints and all(JUDGE_VALUE not in h.read_text() for h in hints)


# -- an export's manifest, read back by `land --from` ------------------------------------------

def test_an_exported_reason_keeps_the_tasks_state_readable_whatever_value_the_run_passed(
        repo: Path, tmp_path: Path) -> None:
    # `not_exported` says "<state>: <message>", and `land --from` reads the state back from it: a
    # passed value that is a state's name (RELEASE_STAGE=deferred) must not mask it there, or the
    # land reports a deferred task as failed. The message after it is masked as people read it.
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"verdict": "needs_revision", "iteration": 1, "rubric_version": "default@1",
                                  "required_fixes": ["more"], "criterion_results": criteria("no", failing="C1")[:7]}))
    plan = tmp_path / "plan.toml"
    plan.write_text('[run]\ngrader = "rev"\niteration_cap = 1\non_cap = "defer"\ncheck_env = ["RELEASE_STAGE"]\n\n'
                    '[agents.bot]\nadapter = "command"\n'
                    'command = ["sh", "-c", "echo more >> app.py && git add -A && git commit -qm work"]\n\n'
                    f'[agents.rev]\nadapter = "command"\n'
                    f'command = ["sh", "-c", "cat {answer} > $LAUNCHER_CONTRACT"]\n\n'
                    '[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\n')
    out = tmp_path / "export"
    env = {**os.environ, "RELEASE_STAGE": "deferred"}
    done = subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--shard", "1/1", "--no-merge",
                           "--export", str(out)], cwd=repo, env=env, capture_output=True, text=True, timeout=180)
    manifest = next(out.rglob("launcher-export.json"), None)
    assert manifest is not None, done.stdout + done.stderr
    data = json.loads(manifest.read_text())
    reason = data["not_exported"]["t"]
    assert reason.startswith("deferred: ") and "***(RELEASE_STAGE)" in reason

    from launcher.app.land.manifests import not_exported_state
    from launcher.models.states import TaskState
    state, _ = not_exported_state(data["shard"], data["run_id"], reason, False)
    assert state is TaskState.DEFERRED
