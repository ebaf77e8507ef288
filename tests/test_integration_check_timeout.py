"""How long one run of the integration check may take is the user's to set (`[merge]
integration_check_timeout_s` in launcher.toml, `[run] integration_check_timeout_s` in a plan;
default 1800 s): a run over it fails, says so, and its batch is bisected as for any failure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import git, run_plan, task

from launcher.errors import LauncherError
from launcher.models.config import load_repo_config

# Hangs only on a tree holding the slow task's file.
HANGS_WITH_SLOW = "if [ -e f_slow.txt ]; then sleep 60; fi"
TASKS = [
    {"id": "quick", "script": [{"write": "f_quick.txt", "content": "q\n"}]},
    {"id": "slow", "script": [{"write": "f_slow.txt", "content": "s\n"}]},
]


def test_a_check_run_over_the_plans_timeout_fails_and_names_the_timeout(repo: Path) -> None:
    started = time.monotonic()
    report = run_plan(repo, TASKS, integration_check=HANGS_WITH_SLOW, integration_check_timeout_s=2,
                      iteration_cap=1)
    assert time.monotonic() - started < 45  # not the check's 60 s, let alone the default 1800 s
    assert task(report, "quick").state == "merged"
    slow = task(report, "slow")
    assert slow.state == "failed"
    assert "integration check timed out after 2s" in slow.message, slow.message
    on_main = git(repo, "ls-tree", "--name-only", "main").split()
    assert "f_quick.txt" in on_main and "f_slow.txt" not in on_main


def test_launcher_toml_sets_the_timeout_for_every_run(repo: Path) -> None:
    (repo / "launcher.toml").write_text("[merge]\nintegration_check_timeout_s = 2\n")
    report = run_plan(repo, TASKS, integration_check=HANGS_WITH_SLOW, iteration_cap=1)
    assert task(report, "slow").state == "failed"
    assert "timed out after 2s" in task(report, "slow").message


@pytest.mark.parametrize("value", ["0", "-5", '"soon"'])
def test_a_timeout_that_is_no_duration_is_a_config_error(repo: Path, value: str) -> None:
    (repo / "launcher.toml").write_text(f"[merge]\nintegration_check_timeout_s = {value}\n")
    with pytest.raises(LauncherError) as caught:
        load_repo_config(repo)
    assert "integration_check_timeout_s" in str(caught.value)
