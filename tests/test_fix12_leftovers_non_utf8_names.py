"""A source file whose name is not UTF-8 (on Linux a name is bytes: b'caf\\xe9.py', as a
latin-1 system writes it) does not crash a mutation sweep. The journal, the coverage data and the
JSON reports hold UTF-8 text, so such a file is skipped, and the sweep says so, naming the file
as git writes its bytes ("caf\\351.py"); the other files are swept and scored as usual.
Passing such a name as PATH is refused with a usage error (exit 2) saying how to go on."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import git, write_files
from helpers import launcher_cli

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="file names are bytes on Linux")

LATIN1_NAME = os.fsdecode(b"caf\xe9.py")  # a lone surrogate where the byte 0xe9 is
SHOWN = '"caf\\351.py"'

FILES = {
    ".gitignore": ".launcher/\n",
    "ok.py": "def sub(a, b):\n    return a - b\n",
    "tests/test_ok.py": "from ok import sub\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n",
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write_files(tmp_path, FILES)
    (tmp_path / LATIN1_NAME).write_bytes(b"def add(a, b):\n    return a + b\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def test_a_sweep_skips_a_file_whose_name_is_not_utf8_and_says_so(repo: Path) -> None:
    done = launcher_cli(repo, "mutation", "sweep", "--workers", "1", "--python", sys.executable, "--no-cache",
                        timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "internal error" not in done.stderr
    assert f"skipped {SHOWN}: its name is not UTF-8" in done.stdout + done.stderr
    run_dir = next((repo / ".launcher" / "mutation-runs").iterdir())
    report = json.loads((run_dir / "report.json").read_text())
    assert {m["target"] for m in report.get("mutants", [])} <= {"ok.py"}
    mutants = json.loads((run_dir / "mutants.json").read_text())
    assert any(f"skipped {SHOWN}" in note for note in mutants["notes"])
    assert set(mutants["files"]) == {"ok.py"}  # ok.py swept and scored; the other file never counted


def test_a_dirty_file_whose_name_is_not_utf8_is_named_in_the_notes_without_a_crash(repo: Path) -> None:
    with (repo / LATIN1_NAME).open("ab") as fh:
        fh.write(b"\n\ndef mul(a, b):\n    return a * b\n")
    done = launcher_cli(repo, "mutation", "sweep", "--workers", "1", "--python", sys.executable, "--no-cache",
                        "--since", "HEAD", timeout=300)  # fmt: skip
    assert "internal error" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"uncommitted or untracked file(s) ({SHOWN})" in done.stdout + done.stderr
    assert f"skipped {SHOWN}" in done.stdout + done.stderr


def test_a_path_argument_that_is_not_utf8_is_a_usage_error(repo: Path) -> None:
    done = launcher_cli(repo, "mutation", "sweep", LATIN1_NAME, "--python", sys.executable, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"the path {SHOWN} is not UTF-8" in done.stderr
    assert "Fix: rename it" in done.stderr


def test_the_dry_run_lists_the_skipped_file(repo: Path) -> None:
    done = launcher_cli(repo, "mutation", "sweep", "--dry-run", "--json", "--python", sys.executable)
    assert done.returncode == 0, done.stderr
    skipped = json.loads(done.stdout)["skipped"]
    assert list(skipped) == [SHOWN]


def test_a_change_only_to_such_a_file_does_not_pass_the_score_gate_as_nothing_to_mutate(repo: Path) -> None:
    # `--since` passes `--fail-under` when a change touched no mutable code; a change to a file
    # skipped for its name touched code that was not tested: the gate does not pass.
    with (repo / LATIN1_NAME).open("ab") as fh:
        fh.write(b"\n\ndef mul(a, b):\n    return a * b\n")
    done = launcher_cli(repo, "mutation", "sweep", "--workers", "1", "--python", sys.executable, "--no-cache",
                        "--since", "HEAD", "--fail-under", "50", timeout=300)  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "nothing to mutate since HEAD" not in said
    assert f"skipped {SHOWN}" in said
