"""Fix16 left-alone defects (best-of, calibration, agents, site installs), each stated as what must be true."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import git
from helpers import run_plan


def _python_repo(tmp_path: Path) -> Path:
    """A repository holding one small Python package, committed on main."""
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("def f(x):\n    return x + 1\n")
    (root / "pkg" / "__init__.py").write_text("")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "code")
    return root

# --- 5. agents: gemini's retry warnings on stderr are not progress -----------------------------

_GEMINI_RETRYING = r'''#!/usr/bin/env python3
import sys, time
n = 0
while True:  # Gemini CLI retrying a 503 for ever: warnings on stderr, nothing on stdout, no file change
    n += 1
    sys.stderr.write(f'Attempt {n} failed with status 503. Retrying with backoff... ApiError: '
                     '{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}\n')
    sys.stderr.flush()
    time.sleep(0.3)
'''


def test_gemini_printing_only_retry_warnings_is_found_inactive(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "gemini").write_text(_GEMINI_RETRYING)
    (bindir / "gemini").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    began = time.monotonic()
    report = run_plan(repo, [{"id": "t", "agent": "gemini", "prompt": "x", "timeout_s": 60}],
                      merge=False, inactivity_timeout_s=2)
    task = report.tasks[0]
    assert task.state == "timed_out", task.message
    assert "inactivity timeout" in task.message
    assert time.monotonic() - began < 30  # not the 60 s wall-clock timeout


# --- 4. calibration: a judge that gave no verdict is not a failed gate -------------------------


def test_judge_calibrate_exits_1_for_a_failed_gate_and_2_when_the_judge_gave_no_verdict(tmp_path: Path) -> None:
    """DESIGN 7.4: exit 1 is a gate that ran and failed; 2 is input the gate cannot score (a verdict
    missing, malformed or with other ids): a CI step can tell a bad judge from a broken one."""
    from test_fix15_calib import calibrate, labelled_set, set_judge

    root = _python_repo(tmp_path)
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    set_judge(root, genuine=23)  # calls everything genuine: precision 65%, under 0.8
    failed = calibrate(root, labels)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "calibration gate: fail" in failed.stdout
    (tmp_path / "judge.py").write_text("print('no verdict today')\n")
    nothing = calibrate(root, labels)
    assert nothing.returncode == 2, nothing.stdout + nothing.stderr
    assert "calibration gate not run: the judge gave no usable verdict" in nothing.stdout
