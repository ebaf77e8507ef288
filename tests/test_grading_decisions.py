"""Deciding escalated work: `launcher choose` reads only the launcher's own record of a round,
best-of-N attempts wait for one decision on their task, and whoever approved the winner says so."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
from helpers import task

from launcher.app.run.choose import choose
from launcher.app.run.runner import RunOptions, start_run
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
