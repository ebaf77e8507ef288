"""An agent is never killed for a prompt it printed: only its own exit, the wall-clock timeout or
the inactivity timeout end it.

Its stdin is /dev/null, so a program asking a question (`Overwrite? [Y/n] `) reads EOF at once and
may go on with its default, then work without output (a download, a build in another process
group): that agent finishes. One really stuck at a question ends at a timeout like any silent
agent, and the reason then names the prompt its output ended with.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher import process
from launcher.agents.base import exit_outcome
from launcher.agents.prompts import pending_prompt
from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport, TaskReport

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def run_with(repo: Path, agents: dict[str, dict[str, Any]], tasks: list[dict[str, Any]], **run: Any) -> RunReport:
    plan = validate_plan({"run": run, "agents": agents, "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)


def task_of(report: RunReport, task_id: str) -> TaskReport:
    return next(t for t in report.tasks if t.id == task_id)


def script(tmp_path: Path, name: str, body: str, then: str = "") -> list[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body) + then)
    return [sys.executable, str(path)]


CONTRACT = """
import json, os
tid = os.environ["LAUNCHER_TASK_ID"]
open(f"{tid}.txt", "w").write("done\\n")
json.dump({"contract_version": "1", "task_id": tid, "status": "done", "summary": "s",
           "files_changed": [f"{tid}.txt"], "tests_added": [], "decisions": [], "blockers": [],
           "llm_observations": "o"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
"""


def test_agents_that_mention_a_prompt_then_work_silently_are_not_killed(repo: Path, tmp_path: Path) -> None:
    # No inactivity timeout: an agent may be silent for as long as its work takes.
    mentions = script(
        tmp_path,
        "mentions.py",
        """
        import time
        print("Do you want to proceed with the tests?", flush=True)
        print("Running them now.", flush=True)
        time.sleep(7)
    """,
        then=CONTRACT,
    )
    agents: dict[str, dict[str, Any]] = {
        "codex": {"adapter": "codex", "set_env": {"FAKE_MODE": "quiet_tests", "FAKE_QUIET_S": "7"}},
        "bot": {"adapter": "command", "command": mentions},
    }
    tasks = [
        {"id": "cx", "agent": "codex", "prompt": "run the tests"},
        {"id": "cmd", "agent": "bot", "prompt": "run the tests"},
    ]
    report = run_with(repo, agents, tasks, timeout_s=60)
    for task_id in ("cx", "cmd"):
        task = task_of(report, task_id)
        assert (task.state, task.message) == ("merged", "landed on main")


def test_an_agent_that_gets_eof_at_a_prompt_then_works_quietly_finishes(repo: Path, tmp_path: Path) -> None:
    # A setup step asks with a default, reads EOF from /dev/null and goes on; then 7 s without
    # output: blocked on I/O ("io"), or busy in a process group of its own ("cpu", as under GNU
    # `timeout`, `setsid` or `docker run`). No inactivity timeout is set.
    asks = script(
        tmp_path,
        "asks.py",
        """
        import os, subprocess, sys, time
        sys.stdout.write("Overwrite local config? [Y/n] ")
        sys.stdout.flush()
        answer = sys.stdin.readline()  # "": EOF, take the default
        if os.environ["LAUNCHER_TASK_ID"] == "io":
            time.sleep(7)
        else:
            busy = "import time\\nt = time.monotonic()\\nwhile time.monotonic() - t < 7: pass"
            subprocess.run([sys.executable, "-c", busy], start_new_session=True, check=True)
    """,
        then=CONTRACT,
    )
    agents = {"bot": {"adapter": "command", "command": asks}}
    tasks = [{"id": "io", "agent": "bot", "prompt": "x"}, {"id": "cpu", "agent": "bot", "prompt": "x"}]
    report = run_with(repo, agents, tasks, timeout_s=60)
    for task_id in ("io", "cpu"):
        task = task_of(report, task_id)
        assert (task.state, task.message) == ("merged", "landed on main")


HANGS = """
import sys, time
sys.stdout.write("Overwrite config? [y/N] ")
sys.stdout.flush()
time.sleep(120)
"""


def test_an_agent_hung_at_a_prompt_ends_at_the_inactivity_timeout_naming_the_prompt(repo: Path, tmp_path: Path) -> None:
    agents = {"bot": {"adapter": "command", "command": script(tmp_path, "hangs.py", HANGS)}}
    started = time.monotonic()
    report = run_with(
        repo, agents, [{"id": "t1", "agent": "bot", "prompt": "x"}], timeout_s=120, inactivity_timeout_s=3
    )
    assert time.monotonic() - started < 60  # the inactivity timeout, not the 120 s wall clock
    task = task_of(report, "t1")
    assert task.state == "timed_out"
    assert "no output or file change within the inactivity timeout" in task.message
    assert "its last output was an interactive prompt: 'Overwrite config? [y/N]'" in task.message
    assert "stdin is /dev/null" in task.message


def test_an_agent_hung_at_a_prompt_ends_at_the_wall_clock_timeout_naming_the_prompt(repo: Path, tmp_path: Path) -> None:
    agents = {"bot": {"adapter": "command", "command": script(tmp_path, "hangs.py", HANGS)}}
    report = run_with(repo, agents, [{"id": "t1", "agent": "bot", "prompt": "x"}], timeout_s=3)
    task = task_of(report, "t1")
    assert task.state == "timed_out"
    assert "(wall-clock timeout); its last output was an interactive prompt: 'Overwrite config? [y/N]'" in (
        task.message
    )


def test_a_killed_agent_whose_output_ended_otherwise_is_not_said_to_wait_at_a_prompt(tmp_path: Path) -> None:
    # It mentioned a prompt, then printed more (to stderr last): the prompt is not what it ended at.
    talks = script(
        tmp_path,
        "talks.py",
        """
        import sys, time
        sys.stdout.write("Continue? (y/n) ")
        sys.stdout.flush()
        sys.stderr.write("downloading...\\n")
        sys.stderr.flush()
        time.sleep(60)
    """,
    )

    async def supervise() -> process.Supervised:
        return await process.supervise(
            talks, cwd=tmp_path, env=dict(os.environ), log_path=tmp_path / "agent.log", timeout_s=2
        )

    result = anyio.run(supervise)
    assert (result.timed_out, result.last_stream) == (True, "stderr")
    assert exit_outcome(result).message.endswith("(wall-clock timeout)")


@pytest.mark.parametrize(
    ("output", "waiting_at"),
    [
        ("Overwrite config? [y/N] ", "Overwrite config? [y/N]"),
        ("Allow command? (y/n)", "Allow command? (y/n)"),
        (
            "Do you trust the files in this folder?\n\n/w\n\n❯ 1. Yes, proceed\n  2. No, exit\n\n"
            "Enter to confirm · Esc to exit\n",
            "Do you trust the files in this folder?",
        ),
        # mentioned, then more output: not waiting
        ('{"type":"item.completed","item":{"text":"it asks [y/N]; I pass --force"}}\n', None),
        ("Do you want to proceed with the tests?\nRunning them now.\n", None),
        ("Do you want to proceed with the tests?\n", None),
        ("the script asks [y/N] but I pass --force", None),
    ],
)
def test_which_output_leaves_a_prompt_waiting(output: str, waiting_at: str | None) -> None:
    assert pending_prompt(output) == waiting_at
