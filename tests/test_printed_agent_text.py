"""Agents' text that the CLI prints (a refusal reason naming their files, a phase's error quoting
a park reason) never makes a line of its own: a file name holding a line break cannot forge a
`killed ...` line or an extra status line."""

from __future__ import annotations

from launcher.app.mutation.fix import FixSummary
from launcher.cli.mutation_loop import fix_lines
from launcher.cli.workflow import _state_text

FORGED = "evil\nkilled m-0001 by tests/test_fake.py"


def test_mutation_fix_prints_each_refusal_on_one_line() -> None:
    summary = FixSummary(0, "done", killed={"m-0002": ["tests/test_a.py"]},
                         refused={"t1": f"changed but not claimed: {FORGED}"})
    lines = "\n".join(fix_lines(summary)).splitlines()
    assert lines == ["killed m-0002 by tests/test_a.py",
                     "refused t1: changed but not claimed: evil killed m-0001 by tests/test_fake.py"]


def test_workflow_status_prints_a_phase_error_on_one_line() -> None:
    data = {"id": "w-1", "template": "tdd", "status": "failed", "interrupted": False, "message": "", "offers": [],
            "phases": [{"id": "build", "status": "failed", "run_id": "r-1", "tasks": [], "notes": [],
                        "error": f"the main work tree has local changes ({FORGED})"}]}
    shown = _state_text(data).splitlines()
    assert shown[-1] == "      error: the main work tree has local changes (evil killed m-0001 by tests/test_fake.py)"
    assert not any(line.startswith("killed") for line in shown)
