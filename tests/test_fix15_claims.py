"""A task's contract speaks for its whole branch: a revision round's contract also claims what
the task's earlier rounds changed, so a multi-round task is not reported as "changed but not
claimed" for its own first round's files (the demo's backend task was)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import launcher_cli

from launcher.agents.cli_common import contract_schema
from launcher.agents.scripted_main import earlier_rounds_files


def test_the_demo_reports_no_disagreement_for_its_two_round_task(tmp_path: Path) -> None:
    done = launcher_cli(tmp_path, "demo", "--quiet", "--where", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    assert "contract and diff disagree" not in done.stdout + done.stderr
    status = launcher_cli(tmp_path / "demo" / "calc-repo", "status", "--json")
    tasks = {t["id"]: t for t in json.loads(status.stdout)["tasks"]}
    backend = tasks["backend-mul"]
    assert backend["state"] == "merged"
    assert len(backend["rounds"]) == 2  # it did take a revision round
    assert backend["changed_not_claimed"] == [] and backend["claimed_not_changed"] == []
    assert {"calc/core.py", "tests/test_mul.py"} <= set(backend["contract"]["files_changed"])


def test_the_scripted_agent_claims_earlier_rounds_edits_only() -> None:
    steps = [{"write": "a.py", "rounds": [1]}, {"write": "b.py", "rounds": [2]},
             {"replace": "c.py", "old": "x", "rounds": [3]}, {"write": "every.py"},
             {"delete": "gone.py", "rounds": [1], "attempts": [2]}]
    assert earlier_rounds_files(steps, 1, 1) == []
    assert earlier_rounds_files(steps, 2, 1) == ["a.py"]
    assert earlier_rounds_files(steps, 3, 1) == ["a.py", "b.py"]
    assert earlier_rounds_files(steps, 3, 2) == ["a.py", "b.py", "gone.py"]


def test_agents_are_told_the_claim_covers_earlier_rounds() -> None:
    for strict in (True, False):
        described = contract_schema("t1", strict=strict)["properties"]["files_changed"]["description"]
        assert "earlier round" in described
