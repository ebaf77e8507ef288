"""The final job's report (`land --from --json`) says how each landed task was graded in its
shard: its grading rounds and its `rubric_gate` are the shard's, not `null` as if it had never
been graded while the same report says `qa-approved`."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli


def test_a_task_graded_in_its_shard_lands_with_its_grading_rounds(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"grader": "judge"}, "agents": {"judge": {"adapter": "scripted-grader"}},
        "task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]}))
    shard_clone, export = tmp_path / "shard", tmp_path / "export"
    git(tmp_path, "clone", "-q", str(repo), str(shard_clone))
    shard = launcher_cli(shard_clone, "run", str(plan), "--shard", "1/1", "--no-merge", "--export", str(export),
                         "--json")
    assert shard.returncode == 0, shard.stdout + shard.stderr
    graded = json.loads(shard.stdout)["tasks"][0]
    assert graded["rubric_gate"] == "rubric-satisfied" and graded["rounds"]

    landed = launcher_cli(repo, "land", "--from", str(export), "--plan", str(plan), "--json")

    assert landed.returncode == 0, landed.stdout + landed.stderr
    task = json.loads(landed.stdout)["tasks"][0]
    assert (task["state"], task["qa_gate"], task["rubric_gate"]) == ("merged", "qa-approved", "rubric-satisfied")
    assert [(r["iteration"], r["verdict"]) for r in task["rounds"]] == [
        (r["iteration"], r["verdict"]) for r in graded["rounds"]]
