"""The user's own git in the main checkout, in a terminal of their own, while a run's agent works.

README, Known limits: new branches and a `git pull` that rebases (`pull.rebase`) without stopping
are fine during a run. Here the user's git runs beside the launcher (a separate process, not
one of the launcher's): a round that ends while their `git pull --rebase` is in a slow
post-checkout hook (their `rebase-merge/` exists, HEAD is detached) leaves the rebase to finish;
a branch made from a remote-tracking branch keeps the upstream git wrote into `.git/config`.
What an agent changes in the config besides is still put back and fails it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from helpers import git

USER = ("-c", "user.name=u", "-c", "user.email=u@b")


def plan_with_agent(repo: Path, script: str) -> None:
    """Commit a plan of one task `t1` whose agent is the shell `script`."""
    (repo / "plan.toml").write_text(
        '[agents.sh]\nadapter = "command"\ncommand = ["sh", "-c", ' + json.dumps(script) + "]\n"
        '[[task]]\nid = "t1"\nagent = "sh"\nprompt = "x"\n'
    )
    git(repo, "add", "plan.toml")
    git(repo, *USER, "commit", "-q", "-m", "plan")


def start_run(repo: Path) -> subprocess.Popen[str]:
    """`launcher run plan.toml --json` in a process of its own, as the user starts it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "launcher", "run", "plan.toml", "--quiet", "--json"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(run: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = run.communicate(timeout=120)
    assert out, err
    return dict(json.loads(out))


def the_task(report: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in report["tasks"] if t["id"] == "t1")


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def users_git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", *USER, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=60)


def with_remote(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "fetch", "-q", "origin")


def test_a_round_ending_while_the_user_s_pull_rebase_is_in_a_post_checkout_hook_fails_no_one(
    repo: Path, tmp_path: Path
) -> None:
    in_hook = tmp_path / "in-hook"
    plan_with_agent(repo, f"while [ ! -f {in_hook} ]; do sleep 0.05; done; echo one > t1.txt")
    with_remote(repo, tmp_path)
    git(repo, "branch", "-q", "--set-upstream-to=origin/main", "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "remote.git"), str(other))
    (other / "remote.md").write_text("remote\n")
    git(other, "add", "remote.md")
    git(other, *USER, "commit", "-qm", "remote work")
    git(other, "push", "-q", "origin", "main")
    (repo / "mine.md").write_text("mine\n")
    git(repo, "add", "mine.md")
    git(repo, *USER, "commit", "-qm", "my local commit")
    # The user's slow post-checkout hook (a ctags regeneration): git runs it inside the rebase,
    # with .git/rebase-merge/ there and HEAD detached at the upstream.
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {in_hook}\nsleep 3\n")
    hook.chmod(0o755)

    run = start_run(repo)
    wait_for(repo / ".launcher" / "runs")
    time.sleep(1)
    pull = users_git(repo, "pull", "--rebase", "origin", "main")
    report = finished(run)

    assert pull.returncode == 0, pull.stdout + pull.stderr
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert not (repo / ".git" / "rebase-merge").exists()
    log = git(repo, "log", "--format=%s", "main").splitlines()
    assert "remote work" in log and "my local commit" in log
    t1 = the_task(report)
    assert (t1["state"], t1["merged"]) == ("merged", True), t1["message"]
    assert (repo / "t1.txt").read_text() == "one\n"
    assert git(repo, "status", "--porcelain") == ""


def test_a_branch_made_from_a_remote_tracking_branch_during_a_round_keeps_its_upstream(
    repo: Path, tmp_path: Path
) -> None:
    started, go = tmp_path / "started", tmp_path / "go"
    plan_with_agent(repo, f"touch {started}; while [ ! -f {go} ]; do sleep 0.05; done; echo one > t1.txt")
    with_remote(repo, tmp_path)

    run = start_run(repo)
    wait_for(started)
    made = users_git(repo, "branch", "feature", "origin/main")  # "set up to track 'origin/main'"
    go.touch()
    report = finished(run)

    assert made.returncode == 0, made.stderr
    assert git(repo, "config", "--get", "branch.feature.remote").strip() == "origin"
    assert git(repo, "config", "--get", "branch.feature.merge").strip() == "refs/heads/main"
    t1 = the_task(report)
    assert (t1["state"], t1["merged"]) == ("merged", True), t1["message"]
    assert "git directory" not in json.dumps(report["notes"])
    # And at the run's end, with no agent running, the upstream set after the last round stays.
    assert git(repo, "config", "--get", "branch.feature.merge").strip() == "refs/heads/main"


def test_an_agent_s_config_change_beside_the_user_s_new_upstream_is_put_back_the_upstream_kept(
    repo: Path, tmp_path: Path
) -> None:
    started, go = tmp_path / "started", tmp_path / "go"
    config = repo / ".git" / "config"
    plan_with_agent(
        repo,
        f"git config --file {config} core.hooksPath /tmp/agent-hooks; touch {started}; "
        f"while [ ! -f {go} ]; do sleep 0.05; done; echo one > t1.txt",
    )
    with_remote(repo, tmp_path)

    run = start_run(repo)
    wait_for(started)
    assert users_git(repo, "branch", "feature", "origin/main").returncode == 0
    go.touch()
    report = finished(run)

    t1 = the_task(report)
    assert t1["state"] == "failed"
    assert "config changed" in t1["message"] and "shared git directory" in t1["message"]
    assert (
        subprocess.run(["git", "config", "--get", "core.hooksPath"], cwd=repo, capture_output=True).returncode == 1
    )  # the agent's setting is gone
    assert git(repo, "config", "--get", "branch.feature.merge").strip() == "refs/heads/main"
    assert git(repo, "config", "--get", "remote.origin.url").strip() == str(tmp_path / "remote.git")
