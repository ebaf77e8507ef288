"""The CI job's token never sits in the git configuration agents share.

`actions/checkout@v4` keeps the job's GITHUB_TOKEN (contents: write in the shipped run workflow)
in `.git/config` unless told `persist-credentials: false`; every task worktree reads that
config, so every agent, check and grader could read the token and push with it. Now the shipped
workflows check out without persisting it, the land job hands the token to its fetch and its
push steps only (never to a step that runs the launcher), and the launcher itself refuses a run
whose shared git configuration holds a credential, naming where it is, never its value."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import git, run_one_command_agent

DOCS = Path(__file__).resolve().parent.parent / "docs"
WORKFLOWS = ["github-actions-run.yml", "github-actions-mutation.yml"]
TOKEN = "ghs_FAKE123token"


def _jobs(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCS / name).read_text())
    return loaded["jobs"]


def _runs_launcher(step: dict[str, Any]) -> bool:
    return any(line.strip().startswith("launcher ") for line in str(step.get("run", "")).splitlines())


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_checkout_before_the_launcher_runs_keeps_no_credentials(name: str) -> None:
    checked = 0
    for job_name, job in _jobs(name).items():
        steps = job["steps"]
        for at, step in enumerate(steps):
            if not str(step.get("uses", "")).startswith("actions/checkout@"):
                continue
            if any(_runs_launcher(later) for later in steps[at + 1:]):
                checked += 1
                assert (step.get("with") or {}).get("persist-credentials") is False, f"{name}: {job_name}"
    assert checked >= 2


def test_the_token_reaches_only_the_steps_that_fetch_and_push_never_one_that_runs_the_launcher() -> None:
    for job_name, job in _jobs("github-actions-run.yml").items():
        assert "GITHUB_TOKEN" not in (job.get("env") or {}), job_name
        for step in job["steps"]:
            env = step.get("env") or {}
            given = any("github.token" in str(v) or "secrets.GITHUB_TOKEN" in str(v) for v in env.values())
            if _runs_launcher(step):
                assert not given, step
            if given:
                assert "git fetch" in step["run"] or "git push" in step["run"], step
    push = next(s for s in _jobs("github-actions-run.yml")["land"]["steps"] if "git push" in s.get("run", ""))
    assert "GIT_CONFIG_VALUE_0=\"AUTHORIZATION: basic" in push["run"]
    assert push["env"]["GITHUB_TOKEN"] == "${{ github.token }}"


def test_the_push_step_sends_the_token_as_the_header_for_its_own_git_only(tmp_path: Path) -> None:
    push = next(s for s in _jobs("github-actions-run.yml")["land"]["steps"] if "git push" in s.get("run", ""))
    script = push["run"].replace("git push origin HEAD", "git config --get-all http.https://github.com/.extraheader")
    shown = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env={"PATH": "/usr/bin:/bin",
                           "GITHUB_TOKEN": TOKEN, "HOME": str(tmp_path)}, capture_output=True, text=True)
    expected = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert shown.stdout.strip() == f"AUTHORIZATION: basic {expected}", shown.stderr


def _run(repo: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_one_command_agent(repo, tmp_path, "git config --get-regexp 'http\\..*extraheader' > seen.txt\nexit 1")


def test_a_run_is_refused_while_the_shared_git_config_holds_checkouts_token(repo: Path, tmp_path: Path) -> None:
    header = "AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    git(repo, "config", "--local", "http.https://github.com/.extraheader", header)

    done = _run(repo, tmp_path)

    assert done.returncode == 3, done.stdout + done.stderr
    assert "http.https://github.com/.extraheader (.git/config)" in done.stderr
    assert "persist-credentials: false" in done.stderr
    assert TOKEN not in done.stderr and header.split()[-1] not in done.stderr
    assert not list((tmp_path / "cache").rglob("seen.txt"))  # no agent ran


def test_a_remote_url_with_a_password_is_refused_and_a_plain_one_is_not(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "origin", f"https://x-access-token:{TOKEN}@github.com/OWNER/REPO")
    refused = _run(repo, tmp_path)
    assert refused.returncode == 3 and "remote.origin.url (.git/config)" in refused.stderr, refused.stderr
    assert TOKEN not in refused.stderr

    git(repo, "remote", "set-url", "origin", "https://github.com/OWNER/REPO")
    ran = _run(repo, tmp_path)
    assert "credential" not in ran.stderr, ran.stderr
    assert ran.returncode == 1  # the agent ran (and failed, as it was written to)
