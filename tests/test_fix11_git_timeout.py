"""A git command the launcher stops at its time limit says so, and is never taken for an answer.

The limit is LAUNCHER_GIT_TIMEOUT (seconds, 0: none), else 600 s grown with the size of the
repository's index (a big monorepo's checkout is slow, not hung). A git stopped at it used to be
reported as "`git read-tree --reset -u HEAD` failed:" with nothing after it, and a `check=False`
caller read its exit code as a "no" (`merge-base --is-ancestor` -> not an ancestor)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from helpers import git, git_on_path, launcher_cli

from launcher.errors import ConfigError, GitTimedOut
from launcher.git import time_limit
from launcher.git.repo import GitRepo


def _plan(repo: Path, script: str) -> Path:
    plan = repo.parent / "plan.json"
    plan.write_text(json.dumps({
        "agents": {"sh": {"adapter": "command", "command": ["sh", "-c", script]}},
        "task": [{"id": "t1", "agent": "sh", "prompt": "x"}],
    }))
    return plan


def test_a_worktree_checkout_stopped_at_the_limit_says_it_timed_out_after_how_long_and_how_to_raise_it(
        repo: Path, tmp_path: Path) -> None:
    plan = _plan(repo, "echo b >> README.md")
    slow = git_on_path(tmp_path, 'case "$*" in *"read-tree --reset -u HEAD"*) sleep 60;; esac')
    done = launcher_cli(repo, "run", str(plan), "--json", "--no-merge",
                        env={**slow, time_limit.VARIABLE: "3"})

    report = json.loads(done.stdout)
    [task] = report["tasks"]
    assert task["state"] == "failed", done.stdout
    message = task["message"]
    assert "`git read-tree --reset -u HEAD` was stopped after 3 s" in message
    assert "set by LAUNCHER_GIT_TIMEOUT" in message
    assert "LAUNCHER_GIT_TIMEOUT=SECONDS (0: no limit)" in message  # how to raise it
    assert "failed: Fix" not in message  # never an empty git message


def test_a_killed_git_is_no_answer_even_where_a_failure_would_be_a_no(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    env = git_on_path(tmp_path, 'case "$*" in *merge-base*) sleep 60;; esac')
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv(time_limit.VARIABLE, "2")

    async def ask() -> bool:
        found = await GitRepo.discover(repo)
        return await found.is_ancestor(head, head)  # check=False inside: its exit code is the answer

    with pytest.raises(GitTimedOut) as raised:
        anyio.run(ask)
    assert "`git merge-base --is-ancestor" in raised.value.what and "was stopped after 2 s" in raised.value.what


def test_the_default_limit_grows_with_the_index_and_the_variable_sets_it(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(time_limit.VARIABLE, raising=False)
    index_mib = (repo / ".git" / "index").stat().st_size / (1 << 20)
    assert time_limit.repository_limit(repo / ".git") == pytest.approx(600 + 100 * index_mib)
    big = repo.parent / "big-git-dir"
    big.mkdir()
    (big / "index").write_bytes(b"\0" * (6 << 20))  # about 60,000 tracked files
    assert time_limit.repository_limit(big) == pytest.approx(1200)

    monkeypatch.setenv(time_limit.VARIABLE, "7200")
    assert time_limit.repository_limit(big) == 7200
    monkeypatch.setenv(time_limit.VARIABLE, "0")
    assert time_limit.repository_limit(big) is None  # no limit

    monkeypatch.setenv(time_limit.VARIABLE, "ten minutes")
    with pytest.raises(ConfigError) as bad:
        time_limit.repository_limit(big)
    assert "LAUNCHER_GIT_TIMEOUT='ten minutes' is not a number of seconds" in bad.value.what


def test_a_bad_limit_is_a_usage_error_of_the_command_not_a_traceback(repo: Path) -> None:
    done = launcher_cli(repo, "status", env={time_limit.VARIABLE: "-5"})
    assert done.returncode == 2, done.stderr
    assert "LAUNCHER_GIT_TIMEOUT='-5' is not a number of seconds" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_main_work_tree_update_stopped_at_the_limit_is_undone_and_parked_saying_why(
        repo: Path, tmp_path: Path) -> None:
    plan = _plan(repo, "echo b >> README.md")
    slow = git_on_path(tmp_path, 'case "$*" in *"read-tree -m -u"*) sleep 60;; esac')
    done = launcher_cli(repo, "run", str(plan), "--json", env={**slow, time_limit.VARIABLE: "5"})

    report = json.loads(done.stdout)
    assert report["status"] == "parked", done.stdout
    said = json.dumps(report)
    assert "the main work tree could not be updated (`git read-tree -m -u" in said
    assert "was stopped after 5 s" in said
    assert "Raise the launcher's git time limit (LAUNCHER_GIT_TIMEOUT=SECONDS" in said
    assert (repo / "README.md").read_text() == "# sample\n"  # the main tree as before, nothing half-written
    assert git(repo, "status", "--porcelain") == ""
