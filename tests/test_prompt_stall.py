"""An agent is killed as stuck at an interactive prompt only when it is waiting at one.

Its stdin is /dev/null, so a CLI that stops at a question never proceeds: it is killed before the
inactivity timeout (none need be configured) once the question is the last thing it printed (no
newline after it, or a menu ending in a key hint) and it has printed nothing and used no CPU for
the prompt grace (5 s). Output that merely mentions a prompt (a model's prose, a command's output)
and silent work after it are not a stall.
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
from launcher.agents.cli_common import pending_prompt
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


def test_an_agent_waiting_at_an_unanswered_prompt_is_killed_naming_it(repo: Path, tmp_path: Path) -> None:
    waits = script(
        tmp_path,
        "waits.py",
        """
        import sys, time
        sys.stdout.write("Overwrite config? [y/N] ")
        sys.stdout.flush()
        time.sleep(120)
    """,
    )
    agents = {"bot": {"adapter": "command", "command": waits}}
    started = time.monotonic()
    report = run_with(repo, agents, [{"id": "t1", "agent": "bot", "prompt": "x"}], timeout_s=120)
    assert time.monotonic() - started < 40  # the prompt grace, not the 120 s wall clock
    task = task_of(report, "t1")
    assert task.state == "timed_out"
    assert "waiting at an interactive prompt ('Overwrite config? [y/N]')" in task.message
    assert "stdin is closed" in task.message


def test_an_agent_busy_after_printing_a_prompt_is_not_killed(tmp_path: Path) -> None:
    # Prints a question with no newline, then computes (uses CPU) well past the prompt grace.
    busy = script(
        tmp_path,
        "busy.py",
        """
        import sys, time
        sys.stdout.write("Continue? (y/n) ")
        sys.stdout.flush()
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            sum(range(10000))
    """,
    )

    async def supervise() -> process.Supervised:
        return await process.supervise(
            busy,
            cwd=tmp_path,
            env=dict(os.environ),
            log_path=tmp_path / "agent.log",
            timeout_s=30,
            prompt_detector=pending_prompt,
            prompt_grace_s=0.5,
        )

    result = anyio.run(supervise)
    assert (result.returncode, result.stalled, result.stalled_on_prompt) == (0, False, None)


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
