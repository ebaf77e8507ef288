"""`launcher gate grade-record` reads at most 64 MiB of its verdict (the cap of every input file
the user names), from `--file` (a file, a pipe, a device) or stdin: an input that never ends
(`--file /dev/zero`, a grader stuck printing into `--file <(grader)`) or a huge one is answered
with the one-line JSON envelope (`file_too_large`, exit 1), quickly and in bounded memory."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from helpers import git

LIMIT = 64 * 1024 * 1024


def _limit_memory() -> None:
    cap = 1_500_000_000  # far less than reading /dev/zero for ever needs
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _grade_record(cwd: Path, *args: str, stdin: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(
        [sys.executable, "-m", "launcher", "gate", "grade-record", *args],
        cwd=cwd,
        env=env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )


def _envelope(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "internal error" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    envelope: dict[str, object] = json.loads(lines[0])
    assert envelope["ok"] is False and envelope["subcommand"] == "grade-record"
    return envelope


def _repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main", "repo")
    return tmp_path / "repo"


def test_a_verdict_file_that_never_ends_is_refused_as_too_large(tmp_path: Path) -> None:
    envelope = _envelope(_grade_record(_repo(tmp_path), "--file", "/dev/zero"))

    assert envelope["error_key"] == "file_too_large"
    assert "/dev/zero holds more than 64 MiB" in str(envelope["observations"])


def test_a_verdict_file_over_the_cap_is_refused_and_one_at_the_cap_is_read(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    over, at = tmp_path / "over.json", tmp_path / "at.json"
    with over.open("wb") as out:
        out.truncate(LIMIT + 1)
    at.write_bytes(b" " * (LIMIT - 2) + b"{}")

    refused = _envelope(_grade_record(repo, "--file", str(over)))
    read = _envelope(_grade_record(repo, "--file", str(at)))

    assert refused["error_key"] == "file_too_large"
    assert read["error_key"] == "missing_key:verdict"  # read whole, then validated as a verdict


def test_stdin_that_never_ends_is_refused_as_too_large(tmp_path: Path) -> None:
    with open("/dev/zero", "rb") as zeros:
        envelope = _envelope(_grade_record(_repo(tmp_path), stdin=zeros.fileno()))

    assert envelope["error_key"] == "file_too_large"
    assert "stdin holds more than 64 MiB" in str(envelope["observations"])
