"""`launcher clean --all` visits the runs that still hold something: with nothing to remove, it
runs as many git processes after many runs as after one (its time does not grow with history),
and a run that does hold something is still cleaned."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from helpers import git, launcher_cli

AGENT = """
import json, os, pathlib
tid = os.environ["LAUNCHER_TASK_ID"]
path = f"out-{os.environ['LAUNCHER_RUN_ID']}-{tid}.txt"
pathlib.Path(path).write_text("x\\n")
pathlib.Path(os.environ["LAUNCHER_CONTRACT"]).write_text(json.dumps({
    "contract_version": "1", "task_id": tid, "status": "done", "summary": "s", "files_changed": [path],
    "tests_added": [], "decisions": [], "blockers": [], "llm_observations": "a test agent"}))
"""


def with_agent(repo: Path) -> Path:
    command = json.dumps([sys.executable, "-c", AGENT])
    (repo / "launcher.toml").write_text(
        f'default_agent = "bot"\n[agents.bot]\nadapter = "command"\ncommand = {command}\n')
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "agent")
    return repo


def counting_git(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose `git` logs each call's subcommand into the returned file."""
    bin_dir, log = tmp_path / "bin", tmp_path / "git-calls.txt"
    bin_dir.mkdir()
    real = next(Path(d) / "git" for d in os.environ["PATH"].split(os.pathsep) if (Path(d) / "git").is_file())
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def git_calls_of_clean_all(repo: Path, env: dict[str, str], log: Path) -> int:
    log.unlink(missing_ok=True)
    cleaned = launcher_cli(repo, "clean", "--all", env=env)
    assert cleaned.returncode == 0 and cleaned.stdout.strip().endswith("cleaned: 0 item(s)"), cleaned.stdout
    return len(log.read_text().splitlines())


def test_a_clean_all_with_nothing_to_remove_costs_the_same_git_processes_after_many_runs(
        repo: Path, tmp_path: Path) -> None:
    with_agent(repo)
    env, log = counting_git(tmp_path)
    assert launcher_cli(repo, "run", "--task", "a", "--quiet").returncode == 0
    launcher_cli(repo, "clean", "--all")  # whatever the run left
    after_one = git_calls_of_clean_all(repo, env, log)
    for n in range(3):
        assert launcher_cli(repo, "run", "--task", f"b{n}", "--task", f"c{n}", "--quiet").returncode == 0
    launcher_cli(repo, "clean", "--all")
    assert len(launcher_cli(repo, "runs").stdout.splitlines()) == 4
    assert git_calls_of_clean_all(repo, env, log) == after_one


def test_a_run_holding_something_among_settled_ones_is_still_cleaned(repo: Path) -> None:
    with_agent(repo)
    for n in range(2):
        assert launcher_cli(repo, "run", "--task", f"a{n}", "--quiet").returncode == 0
    assert launcher_cli(repo, "run", "--task", "kept", "--no-merge", "--quiet").returncode == 0
    launcher_cli(repo, "clean", "--all")
    kept = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/launcher/").split()
    assert len(kept) == 1, kept  # the --no-merge run's approved work: kept without --force
    forced = launcher_cli(repo, "clean", "--all", "--force")
    assert f"branch {kept[0]}" in forced.stdout, forced.stdout
    assert git(repo, "for-each-ref", "refs/heads/launcher/") == ""
