"""`launcher runs` counts a run's tasks as its plan names them: a best-of-N task's attempts are
rows of their own in the journal, never more tasks ("4 task(s)" for a plan of two)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import launcher_cli


def test_runs_counts_a_best_of_task_once(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [
        {"id": "t", "agent": "scripted", "prompt": "work", "attempts": 2,
         "script": [{"write": "t.txt", "content": "t\n"}]},
        {"id": "u", "agent": "scripted", "prompt": "more", "script": [{"write": "u.txt", "content": "u\n"}]},
        {"id": "t.attempt-9x", "agent": "scripted", "prompt": "a task so named",
         "script": [{"write": "x.txt", "content": "x\n"}]},
    ]}))
    ran = launcher_cli(repo, "run", str(plan), "--quiet", "--json")
    assert ran.returncode == 0, ran.stderr
    ids = {t["id"] for t in json.loads(ran.stdout)["tasks"]}
    assert {"t.attempt-1", "t.attempt-2"} <= ids  # the journal does keep the attempts' rows
    listed = launcher_cli(repo, "runs")
    assert listed.returncode == 0, listed.stderr
    assert " 3 task(s) " in listed.stdout, listed.stdout
