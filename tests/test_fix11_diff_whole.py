"""`launcher diff RUN TASK` prints the task's whole patch, however large: never one cut at its start.

A task that added a 50 MB binary had a `--binary` patch longer than the 64 MiB the launcher reads
of one git command: `launcher diff` printed its last 64 MiB, headerless, under "the first 0 MiB of
this diff are not shown", and exited 0, so `launcher diff R T | git apply` got no patch at all.
The patch is now streamed from git as it prints it. Here the launcher's read limit is lowered to
1 MiB (in the CLI's own process) to make a 2 MiB file the case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
from helpers import git

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport

LOWERED = (
    "import sys\n"
    "import launcher.git.repo as r\n"
    "r.GitRepo.max_output = 1 << 20\n"
    "from launcher.cli.entry import main\n"
    "sys.argv = ['launcher', *sys.argv[1:]]\n"
    "main()\n"
)


def run_shell(repo: Path, script: str, task_id: str) -> RunReport:
    """One task whose agent is the shell `script`, its work kept on its branch (`--no-merge`)."""
    plan = validate_plan({"agents": {"sh": {"adapter": "command", "command": ["sh", "-c", script]}},
                          "task": [{"id": task_id, "agent": "sh", "prompt": "x"}]}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(merge=False), lambda _e: None)


def _diff(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run([sys.executable, "-c", LOWERED, "diff", *args], cwd=repo, env=env,
                          capture_output=True, timeout=120)


def test_a_patch_longer_than_the_launcher_reads_is_printed_whole_and_applies(repo: Path, tmp_path: Path) -> None:
    report = run_shell(repo, "mkdir -p assets && head -c 2097152 /dev/urandom > assets/model.bin && "
                             "echo more >> README.md", "big")
    assert report.tasks[0].state == "approved", report.tasks[0].message

    shown = _diff(repo, report.run_id, "big")

    assert shown.returncode == 0, shown.stderr
    stored = (Path(report.artifacts) / "big" / "diff.patch").read_bytes()
    assert len(shown.stdout) > 2 << 20 and shown.stdout == stored  # the whole patch, as collected
    assert shown.stdout.startswith(b"diff --git a/")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    start = json.loads((Path(report.artifacts) / "big" / "facts.json").read_text())["start_sha"]
    git(clone, "checkout", "-q", start)
    applied = subprocess.run(["git", "apply", "--check", "-"], cwd=clone, input=shown.stdout, capture_output=True)
    assert applied.returncode == 0, applied.stderr


def test_a_diff_git_cannot_finish_is_an_error_never_exit_0(repo: Path, tmp_path: Path) -> None:
    report = run_shell(repo, "echo more >> README.md", "small")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True).stdout.strip()
    (bin_dir / "git").write_text(f'#!/bin/sh\ncase "$*" in *"diff --no-ext-diff"*) echo "diff --git a/x b/x"; '
                                 f'echo "fatal: out of memory" >&2; exit 128;; esac\nexec {real} "$@"\n')
    (bin_dir / "git").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    shown = subprocess.run([sys.executable, "-m", "launcher", "diff", report.run_id, "small"], cwd=repo,
                           env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode != 0
    assert "fatal: out of memory" in shown.stderr and "is not a whole patch" in shown.stderr
