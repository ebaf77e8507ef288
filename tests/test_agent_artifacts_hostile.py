"""An agent cannot block or crash the launcher through the launcher's files in its artifacts.

A task's artifacts directory (`.launcher/runs/<run>/<task>/`) is in its agent's reach: the agent
can write there (Claude Code is even granted it with `--add-dir`, for its feedback). The launcher
keeps its own files in it too: a CLI's session id (`claude.session`), the answer's schema, Codex's
`-o` file, the agent's log. An agent that puts a FIFO or a directory at one of those names used to
hang the launcher's event loop in `open()` (Ctrl-C included) or crash the run with a traceback on
every resume. Those files are now replaced atomically or removed whatever they are, and read only as regular files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import git, launcher_cli

from launcher.agents.base import AgentOutcome, AgentRequest
from launcher.agents.cli_common import remember_session, resume_session
from launcher.models.plan import AgentConfig, Task

CONTRACT = {"contract_version": "1", "status": "done", "summary": "s", "files_changed": ["work.txt"],
            "tests_added": [], "decisions": [], "blockers": [], "llm_observations": "o"}

# A Claude Code CLI printing Claude's real `--output-format json` result, which also replaces the
# launcher's session file in its artifacts by a FIFO.
FIFO_CLAUDE = """\
import json, os, subprocess, uuid
open("work.txt", "w").write("x\\n")
common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                        capture_output=True, text=True).stdout.strip()
art = os.path.join(os.path.dirname(common), ".launcher", "runs", os.environ["LAUNCHER_RUN_ID"],
                   os.environ["LAUNCHER_TASK_ID"])
session = os.path.join(art, "claude.session")
if os.path.lexists(session):
    os.remove(session)
os.mkfifo(session)
contract = dict(json.loads(os.environ["CONTRACT"]), task_id=os.environ["LAUNCHER_TASK_ID"])
print(json.dumps({"type": "result", "subtype": "success", "is_error": False, "duration_ms": 10,
                  "num_turns": 1, "result": "Done.", "session_id": str(uuid.uuid4()),
                  "total_cost_usd": 0.01, "usage": {"input_tokens": 1, "output_tokens": 1},
                  "permission_denials": [], "structured_output": contract}))
"""

# A Codex CLI that makes its `-o` file a directory and answers no JSON (so a corrective round
# follows, whose invocation clears that path), then answers the contract in the next round.
DIR_CODEX = """\
import json, os, sys
args = sys.argv[1:]
last = args[args.index("-o") + 1]
open("work.txt", "w").write("x\\n")
def ev(e): print(json.dumps(e), flush=True)
ev({"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"})
ev({"type": "turn.started"})
if os.environ.get("LAUNCHER_FEEDBACK"):
    contract = dict(json.loads(os.environ["CONTRACT"]), task_id=os.environ["LAUNCHER_TASK_ID"])
    text = json.dumps(contract)
    open(last, "w").write(text)
else:
    os.makedirs(os.path.join(last, "inside"))
    text = "done"
ev({"type": "item.completed", "item": {"id": "item_2", "type": "agent_message", "text": text}})
ev({"type": "turn.completed", "usage": {"input_tokens": 1, "cached_input_tokens": 0, "output_tokens": 2}})
"""


def _plan(repo: Path, tmp_path: Path, adapter: str, script: str) -> None:
    cli = tmp_path / f"fake-{adapter}.py"
    cli.write_text(script)
    (repo / "plan.toml").write_text(
        f'[agents.a]\nadapter = "{adapter}"\ncommand = ["{sys.executable}", "{cli}"]\n'
        f"set_env = {{ CONTRACT = '{json.dumps(CONTRACT)}' }}\n"
        '[[task]]\nid = "t"\nagent = "a"\nprompt = "write work.txt"\n')
    git(repo, "add", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")


def _run(repo: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    try:
        done = launcher_cli(repo, "run", "plan.toml", "--json", timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("the launcher hung on a special file the agent left in its artifacts")
    assert "Traceback" not in done.stderr and done.returncode != 70, done.stderr
    return done, json.loads(done.stdout)


def test_a_fifo_at_the_claude_session_file_neither_hangs_nor_fails_the_run(repo: Path, tmp_path: Path) -> None:
    _plan(repo, tmp_path, "claude", FIFO_CLAUDE)
    done, report = _run(repo)
    assert done.returncode == 0, done.stderr
    assert [t["state"] for t in report["tasks"]] == ["merged"]  # type: ignore[index]
    assert (repo / "work.txt").read_text() == "x\n"
    session = repo / ".launcher" / "runs" / str(report["run_id"]) / "t" / "claude.session"
    assert session.is_file() and not session.is_symlink()  # the FIFO was replaced, not opened
    assert len(session.read_text().strip()) == 36  # the session id, kept for the next round


def test_a_directory_at_codexs_last_message_file_is_cleared_for_the_next_round(repo: Path, tmp_path: Path) -> None:
    _plan(repo, tmp_path, "codex", DIR_CODEX)
    done, report = _run(repo)
    assert done.returncode == 0, done.stderr
    assert [t["state"] for t in report["tasks"]] == ["merged"]  # type: ignore[index]
    last = repo / ".launcher" / "runs" / str(report["run_id"]) / "t" / "codex-last-message.txt"
    assert json.loads(last.read_text())["task_id"] == "t"  # the corrective round's answer


def _request(tmp_path: Path, feedback: Path | None = None) -> AgentRequest:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir(exist_ok=True)
    return AgentRequest(
        run_id="r-20250101-000000-abcd", task=Task(id="t1", prompt="x"), agent_name="claude",
        config=AgentConfig.model_validate({"adapter": "claude"}), worktree=tmp_path,
        artifacts=artifacts, base_sha="0" * 40, iteration=2, contract_path=artifacts / "contract.agent.json",
        feedback_path=feedback, port_base=20000,
    )


def _within(seconds: float, action: object) -> object:
    """`action()` in a thread; fails the test if it has not returned in time (blocked in open())."""
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(action()), daemon=True)  # type: ignore[operator]
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked on a FIFO the agent left"
    return done[0]


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink"])
def test_session_files_of_any_kind_are_read_without_blocking_and_replaced(tmp_path: Path, kind: str) -> None:
    feedback = tmp_path / "feedback.md"
    os.mkfifo(feedback)  # the feedback quoted into the prompt is read only as a regular file too
    request = _request(tmp_path, feedback)
    session = request.artifacts / "claude.session"
    outside = tmp_path / "outside.txt"
    outside.write_text("not the launcher's\n")
    {"fifo": lambda: os.mkfifo(session), "directory": lambda: (session / "x").mkdir(parents=True),
     "symlink": lambda: session.symlink_to(outside)}[kind]()
    assert _within(10, lambda: resume_session(request, "claude")) is None
    sid = "0199a213-81c0-7800-8aa1-bbab2a035a53"
    _within(10, lambda: remember_session(request, "claude", AgentOutcome(True, session_id=sid)))
    assert session.is_file() and not session.is_symlink() and session.read_text() == sid + "\n"
    assert outside.read_text() == "not the launcher's\n"  # a link is replaced, never written through
    assert _within(10, lambda: resume_session(request, "claude")) == sid
