"""Fix16 left-alone defects (best-of, calibration, agents, site installs), each stated as what must be true."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import run_plan

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
