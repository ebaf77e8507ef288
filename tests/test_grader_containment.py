"""What a grader changes outside its scratch tree is put back and said, the grader named: never
blamed on the task's agent, never left for the user to take for their own local changes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
from helpers import git, launcher_cli, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport

VERDICT = r"""
import json, re, sys
ids = re.findall(r"^### ([A-Za-z][A-Za-z0-9_-]*)\. ", open(sys.argv[1]).read(), re.M)
print(json.dumps({"verdict": VERDICT, "criterion_results": [
    {"criterion": c, "pass": VERDICT == "satisfied" or c != "C1", "justification": "x"} for c in ids],
    "required_fixes": [] if VERDICT == "satisfied" else ["more (C1)"], "iteration": 1, "rubric_version": "default@1"}))
"""
DEFACE_MAIN = "import pathlib, sys\n(pathlib.Path(sys.argv[2]) / 'app.py').write_text('# defaced by the grader\\n')\n"
MOVE_BRANCH = """import os, pathlib, subprocess
pathlib.Path("grader_added.txt").write_text("from the grader\\n")
subprocess.run(["git", "add", "grader_added.txt"], check=True)
subprocess.run(["git", "-c", "user.name=g", "-c", "user.email=g@g", "commit", "-qm", "grader"], check=True)
subprocess.run(["git", "update-ref", "refs/heads/launcher/%s/%s" % (os.environ["LAUNCHER_RUN_ID"],
                os.environ["LAUNCHER_TASK_ID"]), "HEAD"], check=True)
"""


def graded_by(repo: Path, tmp_path: Path, action: str, verdict: str, **run: Any) -> RunReport:
    script = tmp_path / "grader.py"
    script.write_text(action + f"VERDICT = {verdict!r}\n" + VERDICT)
    plan = validate_plan({
        "run": {"grader": "g", **run},
        "agents": {"g": {"adapter": "command", "command": [sys.executable, str(script), "{packet}", str(repo)]}},
        "task": [{"id": "t1", "script": [{"write": "notes.md", "content": "n\n"}]}]}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def test_a_grader_writing_into_the_main_checkout_is_put_back_and_its_task_escalated(
    repo: Path, tmp_path: Path
) -> None:
    report = graded_by(repo, tmp_path, DEFACE_MAIN, "satisfied")
    t1 = task(report, "t1")
    assert (repo / "app.py").read_text().startswith("def add"), "the user's file is put back"
    assert git(repo, "status", "--porcelain", "--", "app.py") == ""
    assert t1.state == "escalated", t1.message
    assert t1.message.startswith("the grader of task t1 wrote into the main checkout: app.py (put back; "
                                 "the grader's version moved to"), t1.message
    assert "the grader's verdict (RUBRIC default@1 iteration 1: satisfied" in t1.message
    assert "is not taken" in t1.message
    assert "local changes" not in (report.message or "") and report.status == "failed"
    assert "notes.md" not in git(repo, "ls-tree", "--name-only", "main")


def test_a_grader_that_wrote_into_the_main_checkout_is_blamed_not_the_agents_next_round(
    repo: Path, tmp_path: Path
) -> None:
    report = graded_by(repo, tmp_path, DEFACE_MAIN, "needs_revision", iteration_cap=3)
    t1 = task(report, "t1")
    assert t1.state == "escalated" and "the grader of task t1" in t1.message, t1.message
    assert "the agent wrote" not in t1.message
    assert [r.iteration for r in t1.rounds] == [1]  # no agent round was run on the grader's word
    assert (repo / "app.py").read_text().startswith("def add")


def test_a_grader_that_moves_its_tasks_branch_is_named_and_the_graded_work_lands(
    repo: Path, tmp_path: Path
) -> None:
    report = graded_by(repo, tmp_path, MOVE_BRANCH, "satisfied")
    t1 = task(report, "t1")
    assert t1.state == "merged", t1.message
    tracked = git(repo, "ls-tree", "--name-only", "main")
    assert "notes.md" in tracked and "grader_added.txt" not in tracked
    said = [n.message for n in report.notes if n.task == "t1"]
    assert any(m.startswith("its grader changed the task's worktree or branch (HEAD moved to ") and "put back" in m
               for m in said), said
    assert not any("which of" in m for m in said), said


def test_a_grader_run_by_launcher_grade_is_watched_as_in_a_run(repo: Path, tmp_path: Path) -> None:
    report = graded_by(repo, tmp_path, "", "needs_revision", iteration_cap=1)
    assert task(report, "t1").state == "escalated"
    (tmp_path / "grader.py").write_text(DEFACE_MAIN + "VERDICT = 'satisfied'\n" + VERDICT)
    regraded = launcher_cli(repo, "grade", report.run_id, "t1", "--json")
    assert (repo / "app.py").read_text().startswith("def add"), "the user's file is put back"
    shown = next(t for t in json.loads(regraded.stdout)["tasks"] if t["id"] == "t1")
    assert shown["state"] == "escalated" and "the grader of task t1 wrote into the main checkout" in shown["message"]
    assert "notes.md" not in git(repo, "ls-tree", "--name-only", "main")


def test_work_whose_graders_verdict_was_refused_lands_as_approved_by_choice(repo: Path, tmp_path: Path) -> None:
    report = graded_by(repo, tmp_path, DEFACE_MAIN, "satisfied")
    assert task(report, "t1").state == "escalated"
    chosen = launcher_cli(repo, "choose", report.run_id, "t1", "approve", "--note", "looked myself")
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    trailer = git(repo, "log", "-1", "--format=%B", "main")
    assert "Launcher-Verdict: approved-by-choice" in trailer, trailer
    shown = json.loads(launcher_cli(repo, "status", report.run_id, "--json").stdout)
    t1 = next(t for t in shown["tasks"] if t["id"] == "t1")
    assert "not by the grader" in t1["message"] and t1["rubric_gate"] != "rubric-passed", t1
