"""The suite runs on every supported Python, activated or not (review 14, suites).

`/root/.pyenv/versions/3.13.0/...venv313/bin/python -m pytest` without activating the venv left
`python` on PATH pointing at another interpreter (3.11, without coverage): every sweep test then
swept with it and failed `coverage is not installed for .../shims/python`. The launcher was right
to use the `python` a user would type; the tests assumed an activated venv. A test run from a
virtualenv now sees that virtualenv as the active one, so a sweep, a check or a workflow's test
phase started by a test runs the project's tests with the interpreter under test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.mutation import interpreter

in_a_venv = pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="the suite is not run from a virtualenv")


@in_a_venv
def test_a_sweep_started_by_a_test_picks_the_interpreter_running_the_suite() -> None:
    python = interpreter.project_python()
    assert Path(python).parent == Path(sys.executable).parent
    assert interpreter.describe(python).endswith("(the active virtualenv)")


@in_a_venv
def test_python_on_path_in_a_test_is_this_python_with_this_pythons_packages() -> None:
    probe = "import sys, coverage, pytest; print(sys.prefix); print('%d.%d' % sys.version_info[:2])"
    ran = subprocess.run(["python", "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr
    prefix, version = ran.stdout.split()
    assert os.path.samefile(prefix, sys.prefix)
    assert version == f"{sys.version_info[0]}.{sys.version_info[1]}"
