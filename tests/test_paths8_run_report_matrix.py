"""`run --no-merge --json` reports the conflict matrix of the approved branches it leaves, the
same one `status --json` shows for that run right after: both come from one place
(`app/report_now.py`). Before, the run's own report took the matrix only from journaled landing
passes, and a run that lands nothing has none: it said `"conflicts": []`."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import launcher_cli


def write(name: str, text: str) -> list[dict[str, str]]:
    return [{"write": name, "content": text}]


def test_a_no_merge_runs_report_lists_the_conflicts_status_lists(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "task": [
                    {"id": "a", "script": write("new\nline.txt", "a\n")},
                    {"id": "b", "script": write("new\nline.txt", "b\n")},
                    {"id": "c", "script": write("other.txt", "c\n")},
                ]
            }
        )
    )
    ran = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_report = json.loads(ran.stdout)
    status = json.loads(launcher_cli(repo, "status", run_report["run_id"], "--json").stdout)
    expected = [{"a": "a", "b": "b", "kind": "conflict", "files": ["new\nline.txt"]}]
    assert run_report["conflicts"] == expected
    assert status["conflicts"] == run_report["conflicts"]
