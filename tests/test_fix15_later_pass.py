"""A later landing pass (`launcher land`, `resume`) that lands nothing more does not make the
run's message say "nothing to land" as if the run had landed nothing: it says what landed."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import launcher_cli


def test_a_later_pass_landing_nothing_more_says_the_run_landed_work(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [
        {"id": "ok", "agent": "scripted", "prompt": "work", "script": [{"write": "ok.txt", "content": "ok\n"}]},
        {"id": "bad", "agent": "scripted", "prompt": "work", "checks": ["false"],
         "script": [{"write": "bad.txt", "content": "bad\n"}]},
    ]}))
    ran = launcher_cli(repo, "run", str(plan), "--quiet", "--json")
    assert ran.returncode == 1, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    again = launcher_cli(repo, "land", run_id, "--json")
    report = json.loads(again.stdout)
    assert {t["id"]: t["state"] for t in report["tasks"]} == {"ok": "merged", "bad": "failed"}
    assert report["message"].startswith("nothing more to land (1 task(s) landed by an earlier pass)"), report
    status = launcher_cli(repo, "status", run_id)
    assert "failed - nothing to land" not in status.stdout, status.stdout
