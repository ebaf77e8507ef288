"""A launcher killed (SIGKILL) while its integration check runs leaves the check's scratch
worktree (`<worktrees>/<run>/_integration/<commit>`) registered: the landing that finishes the
run (`launcher resume`, or `launcher land` after a `--no-merge` run) removes it, so a run that
reports success leaves no worktree of its own behind."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from helpers import git, launcher_cli

# The integration check's first run kills the launcher that runs it (the `python -m launcher`
# process among its ancestors), then exits, leaving its scratch worktree behind.
KILLER = """\
import os, pathlib, signal, sys
runs = pathlib.Path({runs!r})
n = len(runs.read_text().splitlines()) + 1 if runs.exists() else 1
runs.write_text('run\\n' * n)
if n == 1:
    pid = os.getppid()
    while pid > 1:
        cmd = pathlib.Path(f'/proc/{{pid}}/cmdline').read_bytes().split(b'\\0')
        if b'launcher' in cmd and b'-m' in cmd:
            os.kill(pid, signal.SIGKILL)
            break
        pid = int(pathlib.Path(f'/proc/{{pid}}/stat').read_text().rsplit(')', 1)[1].split()[1])
    sys.exit(1)
"""


def _plan(tmp_path: Path) -> Path:
    script = tmp_path / "check.py"
    script.write_text(KILLER.format(runs=str(tmp_path / "runs.txt")))
    plan = tmp_path / "plan.json"
    tasks = [{"id": name, "script": [{"write": f"{name}.txt", "content": f"{name}\n"}]} for name in "ab"]
    plan.write_text(json.dumps({"run": {"integration_check": f"{sys.executable} {script}"}, "task": tasks}))
    return plan


def _scratch_trees(repo: Path) -> list[str]:
    listed = git(repo, "worktree", "list", "--porcelain").splitlines()
    return [line for line in listed if line.startswith("worktree ") and "/_integration/" in line]


def _killed_while_checking(repo: Path, *args: str) -> str:
    killed = launcher_cli(repo, *args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(_scratch_trees(repo)) == 1  # what the dead launcher left
    return str(json.loads(launcher_cli(repo, "status", "--json").stdout)["run_id"])


def test_resume_after_a_kill_during_the_integration_check_leaves_no_scratch_worktree(
    repo: Path, tmp_path: Path
) -> None:
    run_id = _killed_while_checking(repo, "run", str(_plan(tmp_path)), "--json")

    resumed = launcher_cli(repo, "resume", run_id, "--json")

    report = json.loads(resumed.stdout)
    assert report["status"] == "succeeded", resumed.stderr
    assert [t["state"] for t in report["tasks"]] == ["merged", "merged"]
    assert _scratch_trees(repo) == []
    assert list((tmp_path / "cache").rglob("_integration")) == []  # nor its directory
    assert git(repo, "status", "--porcelain") == ""


def test_land_after_a_kill_during_the_integration_check_leaves_no_scratch_worktree(repo: Path, tmp_path: Path) -> None:
    done = launcher_cli(repo, "run", str(_plan(tmp_path)), "--no-merge", "--json")
    run_id = json.loads(done.stdout)["run_id"]
    _killed_while_checking(repo, "land", run_id, "--json")

    landed = launcher_cli(repo, "land", run_id, "--json")

    report = json.loads(landed.stdout)
    assert [t["state"] for t in report["tasks"]] == ["merged", "merged"], landed.stderr
    assert _scratch_trees(repo) == []
