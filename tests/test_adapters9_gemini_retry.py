"""Gemini CLI retries a 429 or 5xx itself and logs each failed attempt on stderr, with the failed
request's JSON body `{"error": {...}}` (packages/core/src/utils/retry.ts), also in runs that then
succeed. A run that exits 0 with its result object on stdout is a success: the retried error is
only a note on the task. An error object on stderr fails the round only when the CLI did not end
with its result (a non-zero exit, or no result object on stdout).

The fake `tests/fakes/gemini` prints what the real CLI prints (`retried`, `api_error` modes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import make_request

from launcher.agents.gemini import GeminiAdapter
from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport
from launcher.process import Supervised

FAKES = Path(__file__).parent / "fakes"
RETRY_WARNING = (
    'Attempt 1 failed with status 503. Retrying with backoff... ApiError: {"error":{"code":503,'
    '"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}\n'
    "    at throwErrorIfNotOK (file:///x/@google/genai/dist/node/index.mjs:11612:30) {\n"
    "  status: 503\n}\n"
)


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def _run(repo: Path, mode: str) -> RunReport:
    agents = {"gm": {"adapter": "gemini", "set_env": {"FAKE_MODE": mode}}}
    plan = validate_plan({"agents": agents, "task": [{"id": "t1", "agent": "gm", "prompt": "Add a file"}]}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)


def test_a_run_that_recovered_from_a_retried_503_lands_its_work_with_a_note(repo: Path) -> None:
    report = _run(repo, "retried")
    t1 = report.tasks[0]
    assert t1.state == "merged", t1.message
    assert (repo / "gemini_t1.txt").exists()  # its edit landed on main
    notes = [n.message for n in report.notes if n.task == "t1"]
    retried = [n for n in notes if "gemini retried 1 failed API request(s) and recovered" in n]
    assert retried, notes
    assert "Attempt 1 failed with status 503" in retried[0]


def test_a_run_that_ended_on_its_error_still_fails_with_the_clis_own_message(repo: Path) -> None:
    # Retry warnings first, then the CLI's fatal error object, exit 1: the fatal one is reported.
    t1 = _run(repo, "api_error").tasks[0]
    assert t1.state == "failed"
    assert t1.message.startswith("agent api_error: [API Error: You have exhausted your capacity")


def _printed(stdout: str, stderr: str, returncode: int) -> Supervised:
    return Supervised(
        returncode=returncode, duration_s=1.0, pid=1, stdout_tail=stdout.encode(), stderr_tail=stderr.encode()
    )


RESULT: dict[str, Any] = {"session_id": "8a3f", "response": "Done.", "stats": {"models": {}}}


@pytest.mark.parametrize(
    ("stdout", "returncode", "ok", "kind"),
    [
        (json.dumps(RESULT), 0, True, None),  # recovered: exit 0 with the result
        ("", 0, False, "api_error"),  # no result on stdout: the logged error is the failure
        (json.dumps(RESULT), 1, False, "api_error"),  # a non-zero exit: the failure
        ("Loaded cached credentials.\n", 0, False, "api_error"),  # a log line is no result
    ],
    ids=["exit-0-with-result", "exit-0-no-output", "exit-1", "exit-0-log-line-only"],
)
def test_an_error_on_stderr_fails_the_round_only_without_a_final_result(
    tmp_path: Path, stdout: str, returncode: int, ok: bool, kind: str | None
) -> None:
    supervised = _printed(stdout, RETRY_WARNING, returncode)
    outcome = GeminiAdapter().outcome(make_request(tmp_path, "gemini"), supervised)
    assert (outcome.ok, outcome.error_kind) == (ok, kind), outcome.message
    if ok:
        assert len(supervised.notes) == 1 and "status 503" in supervised.notes[0]
    else:
        assert outcome.message == "The model is overloaded. Please try again later."
        assert supervised.notes == []
