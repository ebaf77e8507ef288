"""Claude Code in print mode denies a tool call the permission mode does not allow, lists it in the
result's `permission_denials` ({tool_name, tool_use_id, tool_input}) and goes on: the run still
ends in subtype "success". Under the launcher's default `acceptEdits`, file edits are allowed but
a shell command like `npm test` is not.

A denied file write (Write, Edit, MultiEdit, NotebookEdit) fails the round: the work it reports may
be missing. A denied tool that writes no file (Bash, WebFetch, Read, ...) does not: the task goes
on to its checks and grading, and the denial is a note on the task naming the tool and its input.
A denial the adapter cannot classify (an MCP tool, an unknown name) stays fatal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import make_request

from launcher.agents.claude import ClaudeAdapter
from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport
from launcher.process import Supervised

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def _run(repo: Path, mode: str, **task: Any) -> RunReport:
    agents = {"cc": {"adapter": "claude", "set_env": {"FAKE_MODE": mode}}}
    tasks = [{"id": "t1", "agent": "cc", "prompt": "Add a greeting", **task}]
    plan = validate_plan({"agents": agents, "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)


def test_a_denied_shell_command_leaves_a_note_and_the_finished_task_lands(repo: Path) -> None:
    report = _run(repo, "bash_denied")
    t1 = report.tasks[0]
    assert t1.state == "merged", t1.message
    assert (repo / "claude_t1.txt").exists()  # its edit (allowed by acceptEdits) landed on main
    notes = [n.message for n in report.notes if n.task == "t1"]
    denied = [n for n in notes if "claude was denied 1 tool use(s) that write no file" in n]
    assert denied, notes
    assert "permission mode acceptEdits: Bash 'npm test'" in denied[0]


def test_a_denied_shell_command_does_not_skip_the_tasks_checks(repo: Path) -> None:
    t1 = _run(repo, "bash_denied", checks=["test -f no-such-file"]).tasks[0]
    assert t1.state == "failed"
    assert "permission_denied" not in t1.message
    assert "test -f no-such-file" in t1.message  # the launcher ran the task's checks itself


def test_a_denied_file_write_still_fails_the_task(repo: Path) -> None:
    t1 = _run(repo, "permission_denied").tasks[0]
    assert t1.state == "failed"
    assert t1.message.startswith(
        "agent permission_denied: claude was denied 1 tool use(s) by permission mode "
        "acceptEdits: Write /etc/launcher-fake.conf"
    )


# --- the reading of one result object ---------------------------------------------------------------


def _finished(denials: list[Any]) -> Supervised:
    """The result object of a run that made its edits and returned a valid contract."""
    contract = {
        "contract_version": "1",
        "task_id": "t1",
        "status": "done",
        "summary": "s",
        "files_changed": ["f.txt"],
        "tests_added": [],
        "decisions": [],
        "blockers": [],
        "llm_observations": "o",
    }
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": "Done.",
        "session_id": "s1",
        "total_cost_usd": 0.07,
        "permission_denials": denials,
        "structured_output": contract,
    }
    return Supervised(returncode=0, duration_s=1.0, pid=1, stdout_tail=json.dumps(result).encode())


def _denial(tool: str, **tool_input: str) -> dict[str, Any]:
    return {"tool_name": tool, "tool_use_id": "toolu_01", "tool_input": tool_input}


@pytest.mark.parametrize(
    "denial",
    [
        _denial("Write", file_path="/repo/f.txt", content="x"),
        _denial("Edit", file_path="/repo/f.txt", old_string="a", new_string="b"),
        _denial("MultiEdit", file_path="/repo/f.txt"),
        _denial("NotebookEdit", notebook_path="/repo/n.ipynb", new_source="x"),
        _denial("mcp__files__write_file", path="/repo/f.txt"),  # an MCP tool: it may write
        _denial("SomeFutureTool"),
        "Write",  # an entry of another shape
    ],
    ids=["Write", "Edit", "MultiEdit", "NotebookEdit", "mcp-tool", "unknown-tool", "not-an-object"],
)
def test_a_denied_write_or_unclassified_tool_fails_the_round(tmp_path: Path, denial: Any) -> None:
    supervised = _finished([_denial("Bash", command="npm test"), denial])
    outcome = ClaudeAdapter().outcome(make_request(tmp_path, "claude"), supervised)
    assert not outcome.ok and outcome.error_kind == "permission_denied"
    assert outcome.message.startswith("claude was denied 1 tool use(s) by permission mode acceptEdits: ")
    assert "Bash" not in outcome.message  # the denial that fails it is named, not the harmless one


@pytest.mark.parametrize(
    ("denial", "named"),
    [
        (_denial("Bash", command="npm test", description="Run the tests"), "Bash 'npm test'"),
        (_denial("WebFetch", url="https://example.com/doc", prompt="summarise"), "WebFetch 'https://example.com/doc'"),
        (_denial("Read", file_path="/etc/shadow"), "Read '/etc/shadow'"),
        (_denial("WebSearch", query="pytest fixtures"), "WebSearch 'pytest fixtures'"),
    ],
)
def test_a_denied_tool_that_writes_no_file_is_a_note(tmp_path: Path, denial: dict[str, Any], named: str) -> None:
    supervised = _finished([denial])
    outcome = ClaudeAdapter().outcome(make_request(tmp_path, "claude"), supervised)
    assert outcome.ok, outcome.message
    assert outcome.structured_output["task_id"] == "t1"
    assert outcome.extra["permission_denials"] == [denial]  # the facts the grader reads keep them
    assert supervised.notes == [
        f"claude was denied 1 tool use(s) that write no file by permission mode acceptEdits: {named}; "
        "the agent went on without them"
    ]


def test_the_note_quotes_a_long_input_bounded(tmp_path: Path) -> None:
    command = "echo '" + "x" * 5000 + "'\nrm -rf /"
    supervised = _finished([_denial("Bash", command=command)] * 9)
    outcome = ClaudeAdapter().outcome(make_request(tmp_path, "claude"), supervised)
    assert outcome.ok, outcome.message
    (note,) = supervised.notes
    assert len(note) < 1200 and "\n" not in note  # quoted: a newline in the input cannot forge a line
    assert "claude was denied 9 tool use(s)" in note and "and 4 more" in note
