"""A file an agent controls that cannot be read is that task's invalid input, never a crash.

The contract at `$LAUNCHER_CONTRACT`, a grader's answer file, and the launcher's own records in
the task's artifacts (the directory of `$LAUNCHER_CONTRACT`, so in the agent's reach) are read
only as regular files of bounded size, never following a symbolic link: a link to /proc/self/mem
(which `stat`s as a regular file but fails every read), a FIFO, a directory or a huge file there
fails that task's contract or answer with a clear reason, while the other tasks run on.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import git, launcher_cli

from launcher.agents.base import AgentOutcome
from launcher.engine.collect import collect_contract
from launcher.gates.relay import answer_text
from launcher.models.contract import MAX_CONTRACT_BYTES
from launcher.models.verdict import VerdictInvalid
from launcher.regular_files import read_json_or_none

AGENT = """\
#!/bin/bash
echo x > "f_$LAUNCHER_TASK_ID.txt"
if [ "$LAUNCHER_TASK_ID" = bad ]; then ln -sf /proc/self/mem "$LAUNCHER_CONTRACT"; exit 0; fi
sleep 2
printf '{"contract_version":"1","task_id":"%s","status":"done","summary":"s","files_changed":["f_%s.txt"],\
"tests_added":[],"decisions":[],"blockers":[],"llm_observations":"o"}' \
  "$LAUNCHER_TASK_ID" "$LAUNCHER_TASK_ID" > "$LAUNCHER_CONTRACT"
"""

# A grader (a `command` agent) that leaves its answer path as a link to /proc/self/mem.
LINKING_GRADER = """\
#!/bin/bash
ln -sf /proc/self/mem "$LAUNCHER_CONTRACT"
"""


def _commit_plan(repo: Path, text: str) -> None:
    (repo / "plan.toml").write_text(text)
    git(repo, "add", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")


def _script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def _run(repo: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = launcher_cli(repo, "run", "plan.toml", "--json", timeout=120)
    assert "Traceback" not in done.stderr and done.returncode != 70, done.stderr
    assert not (repo / ".launcher" / "internal-errors").exists()
    return done, json.loads(done.stdout)


def test_a_contract_linked_to_an_unreadable_file_fails_that_contract_and_the_run_goes_on(
    repo: Path, tmp_path: Path
) -> None:
    agent = _script(tmp_path, "agent.sh", AGENT)
    _commit_plan(repo, f'[agents.h]\nadapter = "command"\ncommand = ["{agent}"]\n'
                       '[[task]]\nid = "bad"\nagent = "h"\nprompt = "p"\n'
                       '[[task]]\nid = "good"\nagent = "h"\nprompt = "p"\n')  # fmt: skip
    done, report = _run(repo)
    assert done.returncode == 0, done.stderr
    tasks = {t["id"]: t for t in report["tasks"]}
    assert tasks["good"]["state"] == "merged"
    # The contract could not be read (twice: the corrective round did the same): derived from git.
    assert tasks["bad"]["state"] == "merged"
    assert "no valid contract (derived from git)" in tasks["bad"]["message"]
    artifacts = repo / ".launcher" / "runs" / report["run_id"] / "bad"
    error = json.loads((artifacts / "facts.json").read_text())["contract_error"]
    assert error["error_key"] == "contract_unreadable"
    assert "cannot be read" in error["observations"] and "regular file" in error["usage"]
    assert json.loads((artifacts / "feedback.json").read_text())["error_key"] == "contract_unreadable"


def test_a_graders_answer_linked_to_an_unreadable_file_is_an_invalid_answer(repo: Path, tmp_path: Path) -> None:
    grader = _script(tmp_path, "grader.sh", LINKING_GRADER)
    _commit_plan(repo, f'[run]\ngrader = "judge"\n'
                       f'[agents.judge]\nadapter = "command"\ncommand = ["{grader}"]\n'
                       '[[task]]\nid = "t"\nprompt = "p"\n'
                       'script = [{ write = "new.txt", content = "x" }]\n')  # fmt: skip
    _, report = _run(repo)
    task = report["tasks"][0]
    assert task["state"] == "escalated", task
    assert "answer_unreadable" in json.dumps(task)


def _within(seconds: float, action: Callable[[], Any]) -> Any:
    """`action()` in a thread (its result, or what it raised); fails if it blocks (a FIFO)."""
    done: list[Any] = []

    def call() -> None:
        try:
            done.append(action())
        except Exception as exc:
            done.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked on what the agent left"
    if isinstance(done[0], Exception):
        raise done[0]
    return done[0]


def _leave(path: Path, kind: str) -> None:
    if kind == "link to /proc/self/mem":
        path.symlink_to("/proc/self/mem")
    elif kind == "FIFO":
        os.mkfifo(path)
    elif kind == "directory":
        (path / "inside").mkdir(parents=True)
    else:  # too large: never loaded
        with path.open("wb") as fh:
            fh.truncate(MAX_CONTRACT_BYTES * 8)


KINDS = ["link to /proc/self/mem", "FIFO", "directory", "huge file"]


@pytest.mark.parametrize("kind", KINDS)
def test_whatever_is_at_the_contract_path_is_an_invalid_contract_with_its_reason(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "contract.agent.json"
    _leave(path, kind)
    collected = _within(10, lambda: collect_contract("t", structured=None, contract_path=path, final_text=""))
    assert collected.contract is None and collected.error is not None
    if kind == "huge file":
        assert collected.error.error_key == "invalid_json" and "at most" in collected.error.what
    else:
        assert collected.error.error_key == "contract_unreadable"
        assert "$LAUNCHER_CONTRACT" in collected.error.what and "cannot be read" in collected.error.what


@pytest.mark.parametrize("kind", KINDS)
def test_whatever_is_at_a_reviewers_answer_path_is_an_invalid_answer(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "1-verdict.agent.json"
    _leave(path, kind)
    with pytest.raises(VerdictInvalid) as raised:
        _within(10, lambda: answer_text(path, AgentOutcome(True, final_text="")))
    assert raised.value.error_key == "answer_unreadable"


@pytest.mark.parametrize("kind", KINDS)
def test_the_launchers_records_in_the_artifacts_count_as_missing_when_replaced(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "facts.json"
    _leave(path, kind)
    assert _within(10, lambda: read_json_or_none(path, MAX_CONTRACT_BYTES)) is None


def test_the_launchers_records_are_read_when_they_are_what_it_wrote(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_bytes(b'{"checks": []}')
    assert read_json_or_none(tmp_path / "ok.json") == {"checks": []}
    (tmp_path / "latin1.json").write_bytes(bytes([123, 34, 120, 34, 58, 34, 0xE9, 34, 125]))  # {"x":"\xe9"}
    assert read_json_or_none(tmp_path / "latin1.json") is None  # not UTF-8: not what the launcher wrote
