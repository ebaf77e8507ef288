"""A limit of the machine is the environment, not a launcher bug nor a missing program: too many
open files (`ulimit -n`), no process or thread left (`ulimit -u`) stop the command with exit 3,
naming the limit and how to raise it, and leave the run for `launcher resume`; no task fails for
it and nothing says "install it"."""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from helpers import git, launcher_cli

from launcher import process, process_threads
from launcher.errors import LimitReached, SpawnFailed, environment_problem, limit_problem
from launcher.spawn_failure import spawn_failed


def _plan(repo: Path, tasks: int) -> Path:
    plan = repo / "plan.json"
    plan.write_text(json.dumps({
        "agents": {"sh": {"adapter": "command", "command": ["sh", "-c", "{prompt}"]}},
        "task": [{"id": f"t{i}", "agent": "sh", "prompt": f"echo {i} > f{i}.txt; sleep 1", "checks": ["true"]}
                 for i in range(tasks)],
    }))
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")
    return plan


def _open_files_at_most(count: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


def test_too_few_open_files_stops_the_run_with_exit_3_and_resume_lands_it(repo: Path) -> None:
    # 16 agents at once, each with its pipes, logs and pidfd, cannot fit in 64 open files (at 8 at
    # once the run sometimes fit, and the limit was never reached)
    _plan(repo, 16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    stopped = subprocess.run([sys.executable, "-m", "launcher", "run", "plan.json", "--quiet", "--max-parallel", "16"],
                             cwd=repo, env=env, capture_output=True, text=True, timeout=300,
                             preexec_fn=lambda: _open_files_at_most(64))
    said = stopped.stdout + stopped.stderr
    assert stopped.returncode == 3, said
    assert "too many open files" in said and "`ulimit -n` is 64" in said
    assert "Fix: raise it in the shell that starts the launcher (`ulimit -n 4096`)" in said
    assert "launcher bug" not in said and "install it" not in said
    status = json.loads(launcher_cli(repo, "status", "--json").stdout)
    assert status["status"] == "interrupted"
    assert not [t["id"] for t in status["tasks"] if t["state"] == "failed"]

    resumed = launcher_cli(repo, "resume", "--quiet", timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert sorted(p.name for p in repo.glob("f*.txt")) == sorted(f"f{i}.txt" for i in range(16))


def test_a_child_the_process_limit_keeps_from_starting_is_a_limit_never_install_it() -> None:
    eagain = OSError(errno.EAGAIN, "Resource temporarily unavailable")
    found = spawn_failed(eagain, ["git", "status"])
    assert isinstance(found, LimitReached) and not isinstance(found, SpawnFailed)
    problem = limit_problem(found)
    assert problem is not None and int(problem.exit_code) == 3 and problem.error_key == "process_limit"
    assert "the limit on processes for this user was reached (`ulimit -u` is" in problem.message
    assert "cannot start 'git': Resource temporarily unavailable" in problem.message
    assert "install it" not in problem.message
    for code in (errno.EMFILE, errno.ENFILE, errno.ENOMEM):
        assert isinstance(spawn_failed(OSError(code, os.strerror(code)), ["git"]), LimitReached)
    assert isinstance(spawn_failed(OSError(errno.ENOENT, "No such file"), ["nope"]), SpawnFailed)  # still "install it"


def test_a_thread_that_cannot_start_is_the_process_limit_even_inside_a_task_group() -> None:
    grouped = ExceptionGroup("unhandled errors in a TaskGroup", [RuntimeError("can't start new thread")])
    problem = environment_problem(grouped)
    assert problem is not None and problem.error_key == "process_limit" and "`ulimit -u`" in problem.message
    assert environment_problem(RuntimeError("something else")) is None  # a bug stays a bug
    assert environment_problem(BlockingIOError(errno.EAGAIN, "would block")) is None  # a read, not a fork


def test_a_command_or_check_that_cannot_be_started_for_the_limit_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_process_left(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(process_threads.subprocess, "Popen", no_process_left)
    for run in (process.run, process.run_command):  # a check that cannot start is not a failed check (127)
        with pytest.raises(LimitReached):
            anyio.run(lambda run=run: run(["true"]))
