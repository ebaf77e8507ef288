"""With an inactivity timeout, any file change in the worktree counts as activity, whatever the
files' times say: a file dated in the future (copied in with its stored mtime, clock skew,
`touch -d 2100-01-01`) made every later edit look older than the newest mtime, and an agent
writing a file every half second was killed as stalled."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio

from launcher.agents.base import AgentRequest
from launcher.agents.registry import get_adapter
from launcher.engine.agent_round import Limits, run_agent_round
from launcher.engine.file_activity import FileActivity
from launcher.models.plan import AgentConfig, Task

YEAR_2100 = 4_102_444_800
CONTRACT = (
    "import json, os; json.dump({'contract_version': '1', 'task_id': 't1', 'status': 'done', 'summary': 's',"
    " 'files_changed': [], 'tests_added': [], 'decisions': [], 'blockers': [], 'llm_observations': 'o'},"
    " open(os.environ['LAUNCHER_CONTRACT'], 'w'))"
)


def _worktree_with_a_future_file(tmp_path: Path) -> Path:
    worktree = tmp_path / "wt"
    (worktree / "cache").mkdir(parents=True)
    (worktree / "cache" / "blob.bin").write_bytes(b"x" * 100)
    os.utime(worktree / "cache" / "blob.bin", (YEAR_2100, YEAR_2100))
    return worktree


def _walked(activity: FileActivity, scans: int) -> None:
    deadline = time.monotonic() + 10
    while activity.scans < scans and time.monotonic() < deadline:
        activity.probe()
        time.sleep(0.02)
    assert activity.scans >= scans


def test_an_edit_counts_even_when_another_file_is_dated_in_the_future(tmp_path: Path) -> None:
    worktree = _worktree_with_a_future_file(tmp_path)
    activity = FileActivity(worktree, every_s=0.05)
    try:
        _walked(activity, 1)  # the baseline
        before = activity.latest
        (worktree / "edit.py").write_text("x = 1\n")
        _walked(activity, activity.scans + 2)
        assert activity.latest > before
        quiet = activity.latest
        _walked(activity, activity.scans + 2)  # nothing changed since: no activity
        assert activity.latest == quiet
        os.utime(worktree / "edit.py", (1000, 1000))  # even an edit that dates a file back counts
        _walked(activity, activity.scans + 2)
        assert activity.latest > quiet
    finally:
        activity.close()


def test_an_agent_editing_files_beside_a_future_dated_file_is_not_stalled(tmp_path: Path) -> None:
    worktree = _worktree_with_a_future_file(tmp_path)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    program = ("import time\nfor n in range(8):\n    open(f'f{n}.txt', 'w').write('x')\n    time.sleep(0.7)\n"
               + CONTRACT)
    config = AgentConfig.model_validate({"adapter": "command", "command": [sys.executable, "-c", program]})
    request = AgentRequest(
        run_id="r-20250101-000000-abcd", task=Task(id="t1", prompt="p"), agent_name="bot", config=config,
        worktree=worktree, artifacts=artifacts, base_sha="0" * 40, iteration=1,
        contract_path=artifacts / "contract.agent.json", feedback_path=None, port_base=20000,
    )  # fmt: skip
    result = anyio.run(lambda: run_agent_round(get_adapter("command"), request,
                                               limits=Limits(timeout_s=60, inactivity_s=2.0)))  # fmt: skip
    assert not result.supervised.stalled  # type: ignore[union-attr]
    assert result.outcome.ok and result.collected.contract is not None
