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
                        env={**slow, time_limit.VARIABLE: "6"})

    report = json.loads(done.stdout)
    [task] = report["tasks"]
    assert task["state"] == "failed", done.stdout
    message = task["message"]
    assert "`git read-tree --reset -u HEAD` timed out: it was stopped after 6 s" in message
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
    said = raised.value.what
    assert "`git merge-base --is-ancestor" in said and "timed out: it was stopped after 2 s" in said


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
    done = launcher_cli(repo, "run", str(plan), "--json", env={**slow, time_limit.VARIABLE: "6"})

    report = json.loads(done.stdout)
    assert report["status"] == "parked", done.stdout
    said = json.dumps(report)
    assert "the main work tree could not be updated (`git read-tree -m -u" in said
    assert "timed out: it was stopped after 6 s" in said
    assert "Raise the launcher's git time limit (LAUNCHER_GIT_TIMEOUT=SECONDS" in said
    assert (repo / "README.md").read_text() == "# sample\n"  # the main tree as before, nothing half-written
    assert git(repo, "status", "--porcelain") == ""


def test_a_scratch_tree_removal_stopped_at_the_limit_is_finished_by_hand(repo: Path, tmp_path: Path) -> None:
    # The grader's scratch worktree of a big checkout takes long to delete: git stopped at the
    # limit is no error there, the launcher deletes the rest and unregisters it.
    plan = repo.parent / "plan.json"
    plan.write_text(json.dumps({
        "run": {"grader": "scripted-grader"},
        "task": [{"id": "t1", "script": [{"write": "notes.txt", "content": "hi\n"}]}],
    }))
    slow = git_on_path(tmp_path, 'for last; do :; done\n'
                                 'case "$*" in *"worktree remove"*_grading*) [ -e "$last" ] && sleep 60;; esac')
    done = launcher_cli(repo, "run", str(plan), "--json", "--no-merge", env={**slow, time_limit.VARIABLE: "6"})

    report = json.loads(done.stdout)
    assert [t["state"] for t in report["tasks"]] == ["approved"], done.stdout
    assert "_grading" not in git(repo, "worktree", "list")  # unregistered
    assert not list((tmp_path / "cache").rglob("_grading/t1-1"))  # and deleted
