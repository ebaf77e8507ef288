"""`launcher mutation fix` runs the tests an agent wrote twice: as the task's check (the
allowlisted environment every command the launcher runs gets, DESIGN §14) and, once they landed,
against the sweep's other survivors (the re-settle, in the launcher's own process). Both runs get
the same allowlisted environment: a secret the launcher was started with (GITHUB_TOKEN, a cloud
key), named nowhere, never reaches agent-written code; and the re-settle still kills what the
landed tests kill.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import git, write_files
from helpers import launcher_cli

WRITER = '''import json, os
open("tests/test_label_zero.py", "w").write(\'\'\'import os
from calc.core import label

def test_label_zero():
    with open(SEEN, "a") as f:
        f.write("GITHUB_TOKEN=%s AWS_SECRET_ACCESS_KEY=%s PATH=%s\\\\n" % (
            os.environ.get("GITHUB_TOKEN"), os.environ.get("AWS_SECRET_ACCESS_KEY"), bool(os.environ.get("PATH"))))
    assert label(0) == "non-negative"
\'\'\'.replace("SEEN", repr(SEEN_FILE)))
json.dump({"contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done", "summary": "s",
           "files_changed": ["tests/test_label_zero.py"], "tests_added": ["tests/test_label_zero.py::test_label_zero"],
           "decisions": [], "blockers": [], "llm_observations": "a boundary test"},
          open(os.environ["LAUNCHER_CONTRACT"], "w"))
'''


def _swept_project(root: Path) -> Path:
    """A package with a survivor (`n < 0` -> `n <= 0`) and uncovered lines, swept."""
    write_files(root, {
        "calc/__init__.py": "",
        "calc/core.py": "def is_adult(age):\n    return age >= 18\n\n"
                        "def label(n):\n    if n < 0:\n        return \"negative\"\n    return \"non-negative\"\n",
        "tests/test_core.py": "from calc.core import is_adult, label\n\n"
                              "def test_is_adult():\n    assert is_adult(18) and not is_adult(17)\n\n"
                              "def test_label():\n    assert label(-1) == \"negative\"\n",
    })
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@t")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    swept = launcher_cli(root, "mutation", "sweep", "calc", "--workers", "1", "--python", sys.executable,
                         timeout=300)
    assert swept.returncode == 0, swept.stdout + swept.stderr
    return root


def test_the_landed_tests_rerun_against_the_sweep_never_see_the_launchers_secrets(tmp_path: Path) -> None:
    repo = _swept_project(tmp_path / "repo")
    seen = tmp_path / "seen.txt"
    writer = tmp_path / "writer.py"
    writer.write_text(f"SEEN_FILE = {str(seen)!r}\n" + WRITER)
    (repo / "launcher.toml").write_text(
        f'[agents.writer]\nadapter = "command"\ncommand = [{json.dumps(sys.executable)}, {json.dumps(str(writer))}]\n')
    git(repo, "add", "launcher.toml")
    git(repo, "commit", "-qm", "cfg")

    fixed = launcher_cli(repo, "mutation", "fix", "--all", "--agent", "writer", "--python", sys.executable,
                         env={"GITHUB_TOKEN": "ghp_FAKE123launcher", "AWS_SECRET_ACCESS_KEY": "aws-FAKE123"},
                         timeout=600)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    out = fixed.stdout + fixed.stderr
    # the re-settle ran the landed test against the sweep's other mutants, and it killed them
    assert "more mutant(s) of the sweep" in out and "killed by the landed tests" in out, out
    runs = seen.read_text().splitlines()
    assert len(runs) > 3, runs  # the check's runs, then the re-settle's
    assert set(runs) == {"GITHUB_TOKEN=None AWS_SECRET_ACCESS_KEY=None PATH=True"}, runs
