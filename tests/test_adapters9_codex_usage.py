"""Codex reports in `turn.completed.usage` the THREAD's running total, and `codex exec resume`
starts from the total the thread had (tests/fakes/codex does the same). The launcher books what
each process spent: a round that resumes the thread (a corrective round, a revision round) counts
only its own tokens, never the earlier rounds' again, also when the launcher was killed and the
run resumed in between.

One process of the fake spends ONE (its `success` mode), whatever the thread spent before.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import resume

from launcher import process
from launcher.agents.base import AgentRequest
from launcher.agents.codex import CodexAdapter
from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import AgentConfig, Task, validate_plan

FAKES = Path(__file__).parent / "fakes"
ONE = {"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122}


def times(n: int) -> dict[str, int]:
    return {k: n * v for k, v in ONE.items()}


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def _codex(tmp_path: Path, mode: str) -> dict[str, Any]:
    env = {"FAKE_MODE": mode, "FAKE_ARGV_LOG": str(tmp_path / "argv.jsonl"), "CODEX_HOME": str(tmp_path / "codex")}
    return {"adapter": "codex", "set_env": env}


def _revising_grader(tmp_path: Path) -> dict[str, Any]:
    """Asks for one revision, then is satisfied."""
    modes = {"LAUNCHER_GRADER_MODE": "always_revise,always_satisfied", "LAUNCHER_GRADER_STATE": str(tmp_path / "g")}
    return {"adapter": "scripted-grader", "set_env": modes}


def _calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line)["argv"] for line in (tmp_path / "argv.jsonl").read_text().splitlines()]


def test_a_corrective_round_that_resumes_the_thread_counts_only_its_own_tokens(repo: Path, tmp_path: Path) -> None:
    # Round 1 answers in prose (no contract); its corrective attempt resumes the thread.
    plan = validate_plan(
        {
            "agents": {"cx": _codex(tmp_path, "not_json,success")},
            "task": [{"id": "t1", "agent": "cx", "prompt": "Add a greeting"}],
        },
        "test plan",
    )
    report = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)
    t1 = report.tasks[0]
    assert t1.state == "merged", t1.message
    first, second = _calls(tmp_path)
    assert "resume" not in first and "resume" in second
    assert t1.usage["agent"].tokens == times(2)
    assert report.usage["agent"].tokens == times(2)


def test_a_revision_round_that_resumes_the_thread_counts_only_its_own_tokens(repo: Path, tmp_path: Path) -> None:
    plan = validate_plan(
        {
            "run": {"grader": "judge"},
            "agents": {"cx": _codex(tmp_path, "success"), "judge": _revising_grader(tmp_path)},
            "task": [{"id": "t1", "agent": "cx", "prompt": "Add a greeting"}],
        },
        "test plan",
    )
    report = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)
    t1 = report.tasks[0]
    assert t1.state == "merged", t1.message
    assert [r.iteration for r in t1.rounds] == [1, 2]
    assert ["resume" in argv for argv in _calls(tmp_path)] == [False, True]
    assert t1.usage["agent"].tokens == times(2)


def test_a_revision_round_resumed_after_the_launcher_was_killed_counts_only_its_own_tokens(
    repo: Path, tmp_path: Path
) -> None:
    # The launcher is killed as it starts round 2 (before codex ran); `launcher resume` runs round 2
    # in a new launcher process, resuming the thread of round 1.
    trap, wrapper = tmp_path / "trap", tmp_path / "bin" / "codex"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *" resume "*) [ -e {trap} ] || {{ touch {trap}; kill -9 $PPID; exit 1; }};; esac\n'
        f'exec {FAKES / "codex"} "$@"\n'
    )
    wrapper.chmod(0o755)
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "run": {"grader": "judge"},
                "agents": {"cx": _codex(tmp_path, "success"), "judge": _revising_grader(tmp_path)},
                "task": [{"id": "t1", "agent": "cx", "prompt": "Add a greeting"}],
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["PATH"] = f"{wrapper.parent}{os.pathsep}{env['PATH']}"
    killed = subprocess.run(
        [sys.executable, "-m", "launcher", "run", str(plan), "--quiet"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert killed.returncode == -9 and trap.exists(), (killed.returncode, killed.stderr)
    (run_id,) = sqlite3.connect(repo / ".launcher" / "launcher.db").execute("SELECT id FROM runs").fetchone()

    report = resume(repo, str(run_id))
    t1 = report.tasks[0]
    assert t1.state == "merged", t1.message
    assert ["resume" in argv for argv in _calls(tmp_path)] == [False, True]  # codex ran twice in all
    assert t1.usage["agent"].tokens == times(2)


# --- the adapter alone ---------------------------------------------------------------------------


def _request(tmp_path: Path, session_id: str | None = None) -> AgentRequest:
    (tmp_path / "wt").mkdir(exist_ok=True)
    (tmp_path / "artifacts").mkdir(exist_ok=True)
    feedback = tmp_path / "artifacts" / "feedback.json"
    feedback.write_text('{"fix": "x"}')
    return AgentRequest(
        run_id="r",
        task=Task(id="t1", prompt="p"),
        agent_name="cx",
        config=AgentConfig.model_validate(_codex(tmp_path, "success")),
        worktree=tmp_path / "wt",
        artifacts=tmp_path / "artifacts",
        base_sha="0" * 40,
        iteration=2 if session_id else 1,
        contract_path=tmp_path / "artifacts" / "contract.json",
        feedback_path=feedback if session_id else None,
        port_base=20000,
        session_id=session_id,
    )


def _one_process(request: AgentRequest) -> tuple[process.Supervised, Any]:
    adapter = CodexAdapter()  # a new one each time: as a launcher restarted in between would have
    invocation = adapter.invocation(request)
    supervised = anyio.run(
        lambda: process.supervise(
            invocation.argv,
            cwd=request.worktree,
            env=invocation.env,
            log_path=request.artifacts / "agent.log",
            timeout_s=60,
            inactivity_s=None,
            grace_s=0.5,
            stdout_lines=adapter.stdout_line,
        )
    )
    return supervised, adapter.outcome(request, supervised)


def test_each_process_of_a_thread_reports_its_own_spend(tmp_path: Path) -> None:
    _, first = _one_process(_request(tmp_path))
    assert first.tokens == ONE
    for _ in range(2):
        supervised, resumed = _one_process(_request(tmp_path, first.session_id))
        assert resumed.session_id == first.session_id
        assert resumed.tokens == ONE  # the fake printed the thread's running total: 2 x ONE, then 3 x ONE
        assert supervised.notes == []


def test_a_resumed_thread_whose_earlier_total_is_lost_is_reported_whole_with_a_note(tmp_path: Path) -> None:
    _, first = _one_process(_request(tmp_path))
    shutil.rmtree(tmp_path / "artifacts")
    supervised, resumed = _one_process(_request(tmp_path, first.session_id))
    assert resumed.tokens == times(2)
    (note,) = supervised.notes
    assert f"codex resumed thread {first.session_id}, whose token total before this round is not known" in note
    assert "may count earlier rounds again" in note
