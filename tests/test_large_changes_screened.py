"""A change larger than the launcher reads of one git command's output (64 MiB; lowered here)
is still screened whole and lands: the conflict-marker screen and the commit's byte check read
git's output from a file, not from a capped pipe."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, run_shell, task

from launcher.git.repo import GitRepo
from launcher.models.states import RunStatus, TaskState

CONTRACT = ("printf '{\"contract_version\":\"1\",\"task_id\":\"%s\",\"status\":\"done\",\"summary\":\"s\","
            "\"files_changed\":[\"big.txt\"],\"tests_added\":[],\"decisions\":[],\"blockers\":[],"
            "\"llm_observations\":\"o\"}' $LAUNCHER_TASK_ID > $LAUNCHER_CONTRACT")


@pytest.fixture
def small_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GitRepo, "max_output", 64 * 1024)  # the launcher keeps 64 KiB of an output


def test_a_crlf_file_larger_than_what_is_read_lands_under_autocrlf(repo: Path, small_reads: None) -> None:
    git(repo, "config", "core.autocrlf", "true")
    write = "python3 -c \"open('big.txt','wb').write(b'line of text 0123456789\\r\\n' * 20000)\""
    report = run_shell(repo, f"{write}; {CONTRACT}", "big")
    assert report.status == RunStatus.SUCCEEDED, task(report, "big").message
    assert task(report, "big").state == TaskState.MERGED
    assert git(repo, "show", "main:big.txt").count("\n") == 20000


def test_a_marker_far_into_a_large_change_is_still_found(repo: Path, small_reads: None) -> None:
    write = ("python3 -c \"open('big.txt','w').write('filler line\\n' * 20000 + '<<<<<<< HEAD\\nmine\\n"
             "=======\\ntheirs\\n>>>>>>> other\\n')\"")
    report = run_shell(repo, f"{write}; {CONTRACT}", "marked")
    found = task(report, "marked")
    assert found.state != TaskState.MERGED
    assert "big.txt:20001" in found.message, found.message
