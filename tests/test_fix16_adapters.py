"""What the agent CLIs report when they stop, or retry, on their own.

Gemini CLI: when it stops the agent itself it still exits 0 with its result object, the reason
only in a `warnings` list (google-gemini/gemini-cli packages/cli/src/nonInteractiveCli.ts,
packages/core/src/output/json-formatter.ts): its loop detector ("Loop detected, stopping
execution"), its client's session-turn limit ("Maximum session turns exceeded"), a hook ("Agent
execution stopped: REASON"). That run is unfinished work: the round fails, nothing lands, and no
corrective round is spent on it. Any other warning (an AfterAgent hook that made the agent go on,
"Agent execution blocked: REASON") is a note on a task that otherwise succeeds.

The fake `tests/fakes/gemini` prints the real format (`loop`, `session_turns`, `hook_stopped`,
`hook_blocked` modes).

Claude Code: its result carries `terminal_reason`, and 2.1.328 ends a run a hook stopped
(`continue: false`) or an interrupt cut with subtype "success" and `is_error: false`
(agents/claude_terminal.py). A run stopped before the agent's structured answer fails with that
reason, even when the agent had already written a contract to $LAUNCHER_CONTRACT; stopped after
the answer, the reason is a note. The fake `tests/fakes/claude` prints it (`hook_stopped*` modes).

Codex: every error its app server reports, retried ones included, is a top-level `error` event
(`will_retry` is dropped). 0.171 words each retry notice "Reconnecting..."; other builds word
theirs otherwise. An error the turn went on past, to `turn.completed` and exit 0, was retried and
recovered: a note, not a failure. The fake `tests/fakes/codex` prints one (`retried_error` mode).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import anyio
import pytest

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def _run(repo: Path, mode: str, argv_log: Path, adapter: str = "gemini", **more: str) -> RunReport:
    env = {"FAKE_MODE": mode, "FAKE_ARGV_LOG": str(argv_log), **more}
    agents = {"gm": {"adapter": adapter, "set_env": env}}
    plan = validate_plan({"agents": agents, "task": [{"id": "t1", "agent": "gm", "prompt": "Add a file"}]}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)


def _calls(argv_log: Path) -> int:
    return len(argv_log.read_text().splitlines()) if argv_log.exists() else 0


def _on_main(repo: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), "ls-tree", "--name-only", "main"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


@pytest.mark.parametrize(
    ("mode", "kind", "says"),
    [
        ("loop", "loop_detected", "Loop detected, stopping execution"),
        ("session_turns", "max_turns", "Maximum session turns exceeded"),
        ("hook_stopped", "stopped", "Agent execution stopped: Stop hook: the session budget is spent"),
    ],
)
def test_a_run_gemini_stopped_itself_fails_and_lands_nothing(
    repo: Path, tmp_path: Path, mode: str, kind: str, says: str
) -> None:
    # The second call, were there one, would be a fresh session answering "done" with a contract:
    # a corrective round must not turn the stopped run into merged work.
    argv_log = tmp_path / "argv.log"
    report = _run(repo, f"{mode},success", argv_log)
    t1 = report.tasks[0]
    assert t1.state == "failed", t1.message
    assert not t1.merged
    assert t1.message.startswith(f"agent {kind}: gemini stopped the agent"), t1.message
    assert says in t1.message
    assert "gemini_t1.txt" not in _on_main(repo)  # the half edit did not land
    assert _calls(argv_log) == 1  # no corrective round for a run the CLI stopped


def test_any_other_warning_is_a_note_on_a_task_that_otherwise_succeeds(repo: Path, tmp_path: Path) -> None:
    report = _run(repo, "hook_blocked", tmp_path / "argv.log")
    t1 = report.tasks[0]
    assert t1.state == "merged", t1.message
    assert "gemini_t1.txt" in _on_main(repo)
    notes = [n.message for n in report.notes if n.task == "t1"]
    assert any("gemini warned: 'Agent execution blocked: AfterAgent hook" in n for n in notes), notes


def test_the_fake_prints_the_real_clis_warnings_shape(tmp_path: Path) -> None:
    # `{session_id, response, stats, warnings}` on stdout, exit 0 (json-formatter.ts).
    env = {**os.environ, "FAKE_MODE": "loop", "LAUNCHER_TASK_ID": "t1"}
    done = subprocess.run([str(FAKES / "gemini"), "-p", "x", "-o", "json", "--skip-trust"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    body = json.loads(done.stdout[done.stdout.index("{"):])
    assert set(body) == {"session_id", "response", "stats", "warnings"}
    assert body["warnings"] == ["Loop detected, stopping execution"]


@pytest.mark.parametrize("mode", ["hook_stopped,success", "hook_stopped_contract"])
def test_a_claude_run_a_hook_stopped_fails_with_its_terminal_reason(repo: Path, tmp_path: Path, mode: str) -> None:
    # hook_stopped_contract: the agent wrote a contract saying "done" before the hook stopped it.
    argv_log = tmp_path / "argv.log"
    report = _run(repo, mode, argv_log, adapter="claude")
    t1 = report.tasks[0]
    assert t1.state == "failed", t1.message
    assert not t1.merged
    assert t1.message.startswith("agent stopped: claude ended with terminal_reason 'hook_stopped'"), t1.message
    assert "claude_t1.txt" not in _on_main(repo)
    assert _calls(argv_log) == 1  # no corrective round for a run a hook stopped


def test_a_claude_run_stopped_after_its_answer_lands_with_a_note(repo: Path, tmp_path: Path) -> None:
    report = _run(repo, "hook_stopped_answered", tmp_path / "argv.log", adapter="claude")
    t1 = report.tasks[0]
    assert t1.state == "merged", t1.message
    notes = [n.message for n in report.notes if n.task == "t1"]
    assert any("terminal_reason 'hook_stopped'" in n and "after its answer" in n for n in notes), notes


def test_a_claude_run_that_completed_is_a_plain_success(repo: Path, tmp_path: Path) -> None:
    report = _run(repo, "success", tmp_path / "argv.log", adapter="claude")
    assert report.tasks[0].state == "merged"
    assert not [n for n in report.notes if n.task == "t1" and "terminal_reason" in n.message]


@pytest.mark.parametrize("wording", [
    "",  # the fake's default: "stream error: ...; retrying 1/5 in 211ms…"
    "Waiting for usage limit to reset...",
])
def test_a_codex_run_that_recovered_from_a_retried_error_lands_with_a_note(
    repo: Path, tmp_path: Path, wording: str
) -> None:
    report = _run(repo, "retried_error", tmp_path / "argv.log", adapter="codex", FAKE_ERROR_MESSAGE=wording)
    t1 = report.tasks[0]
    assert t1.state == "merged", t1.message
    assert "codex_t1.txt" in _on_main(repo)
    notes = [n.message for n in report.notes if n.task == "t1"]
    said = wording or "stream error:"
    assert any("retried and recovered" in n and said in n for n in notes), notes


def test_a_codex_error_followed_by_a_non_zero_exit_still_fails(repo: Path, tmp_path: Path) -> None:
    report = _run(repo, "retried_error", tmp_path / "argv.log", adapter="codex",
                  FAKE_ERROR_MESSAGE="unexpected status 500 Internal Server Error", FAKE_EXIT="1")
    t1 = report.tasks[0]
    assert t1.state == "failed"
    assert t1.message == "agent api_error: unexpected status 500 Internal Server Error", t1.message


def test_a_codex_turn_that_failed_after_its_error_still_fails(repo: Path, tmp_path: Path) -> None:
    t1 = _run(repo, "turn_failed", tmp_path / "argv.log", adapter="codex").tasks[0]
    assert t1.state == "failed"
    assert t1.message.startswith("agent api_error: unexpected status 401 Unauthorized"), t1.message
