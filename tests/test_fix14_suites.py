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


CHILDREN_AFTER_A_COMMIT = """
import ctypes, os, sys, time
sys.path.insert(0, sys.argv[1])
from helpers import git
assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER, as the reaper tests make theirs
root = sys.argv[2]
git(root, "init", "-q", "-b", "main")
open(os.path.join(root, "a.txt"), "w").write("a\\n")
git(root, "add", "-A")
git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "a")
time.sleep(1)  # a detached `git maintenance run --auto` has been re-parented to us by now
me = str(os.getpid())
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if stat[1] == me:
        print(pid, stat[0])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are Linux's")
def test_a_commit_made_by_the_tests_git_leaves_no_process_to_a_subreaper_test_process(tmp_path: Path) -> None:
    # git 2.46+ ends a commit with a detached `git maintenance run --auto`: re-parented to a test
    # process that is a child subreaper, it stayed a zombie there and failed a later reaper test
    # (test_an_own_exited_child_the_launcher_tracks_... on git 2.55). git 2.39 never detached one.
    (tmp_path / "r").mkdir()
    tests = Path(__file__).parent
    ran = subprocess.run([sys.executable, "-c", CHILDREN_AFTER_A_COMMIT, str(tests), str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "", f"processes left to the test process by the tests' git: {ran.stdout}"
