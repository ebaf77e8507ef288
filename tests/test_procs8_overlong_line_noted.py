"""An agent CLI whose stdout is read line by line (codex here) and that prints a line over
8 MiB: the line is skipped, in bounded memory, and the run says so: the note reaches the run's
report (what `launcher status` shows) and the task's facts.json, as README "Agent CLIs" says."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan

FAKES = Path(__file__).parent / "fakes"
_SKIPPED = "1 stdout line(s) longer than 8388608 bytes were not read"


def test_a_skipped_overlong_stdout_line_is_noted_in_the_report_and_facts(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake codex CLI, preceded by one 9 MiB line on its stdout.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "codex"
    wrapper.write_text(
        f"#!/bin/sh\n{sys.executable} -c \"import sys; sys.stdout.write('x' * (9 << 20) + '\\\\n')\"\n"
        f'exec {FAKES / "codex"} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    plan = validate_plan({
        "agents": {"bot": {"adapter": "codex", "set_env": {"FAKE_MODE": "success"}}},
        "task": [{"id": "t1", "agent": "bot", "prompt": "Add a greeting"}],
    }, "test plan")  # fmt: skip
    report = anyio.run(start_run, repo, plan, RunOptions(merge=False), lambda _e: None)
    (task,) = report.tasks
    assert task.state == "approved", task.message
    noted = [n.message for n in report.notes if n.task == "t1"]
    assert f"agent bot round 1: {_SKIPPED}" in noted, noted
    facts = json.loads((repo / ".launcher" / "runs" / report.run_id / "t1" / "facts.json").read_text())
    assert _SKIPPED in facts["process_notes"]
