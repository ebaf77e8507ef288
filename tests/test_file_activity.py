"""The inactivity watcher counts file changes without ever blocking the event loop.

With an inactivity timeout, an agent that edits files without printing is not stalled: its
worktree is walked for changes. The walk runs in a worker thread, one at a time per agent,
bounded in entries and throttled: a worktree of tens of thousands of files (node_modules) never
holds up the launcher's event loop, which watches every other agent, journals and merges.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio

from launcher.agents.base import AgentRequest
from launcher.agents.registry import get_adapter
from launcher.engine.agent_round import Limits, RoundResult, run_agent_round
from launcher.engine.file_activity import FileActivity, newest_mtime
from launcher.models.plan import AgentConfig, Task

CONTRACT = (
    "import json, os; json.dump({'contract_version': '1', 'task_id': 't1', 'status': 'done', 'summary': 's',"
    " 'files_changed': [], 'tests_added': [], 'decisions': [], 'blockers': [], 'llm_observations': 'o'},"
    " open(os.environ['LAUNCHER_CONTRACT'], 'w'))"
)


def request(tmp_path: Path, worktree: Path, program: str) -> AgentRequest:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir(exist_ok=True)
    config = AgentConfig.model_validate({"adapter": "command", "command": [sys.executable, "-c", program]})
    return AgentRequest(
        run_id="r-20250101-000000-abcd", task=Task(id="t1", prompt="p"), agent_name="bot", config=config,
        worktree=worktree, artifacts=artifacts, base_sha="0" * 40, iteration=1,
        contract_path=artifacts / "contract.agent.json", feedback_path=None, port_base=20000,
    )  # fmt: skip


def test_an_agent_editing_files_without_printing_is_not_stalled(tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    worktree.mkdir()
    writes = "import time\nfor n in range(10):\n    open(f'f{n}.txt', 'w').write('x')\n    time.sleep(0.5)\n"
    program = writes + CONTRACT
    limits = Limits(timeout_s=60, inactivity_s=2.0)
    result = anyio.run(lambda: run_agent_round(get_adapter("command"), request(tmp_path, worktree, program),
                                               limits=limits))  # fmt: skip
    assert result.outcome.ok and not result.supervised.stalled  # type: ignore[union-attr]
    assert result.collected.contract is not None


def test_walking_a_large_worktree_never_holds_up_the_event_loop(tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    modules = worktree / "node_modules"
    for package in range(300):
        folder = modules / f"pkg{package}"
        folder.mkdir(parents=True)
        for n in range(150):
            (folder / f"m{n}.js").touch()
    program = "import time; time.sleep(4)\n" + CONTRACT
    longest = [0.0]

    async def main() -> RoundResult:
        async def ticker() -> None:
            while True:
                before = time.monotonic()
                await anyio.sleep(0.01)
                longest[0] = max(longest[0], time.monotonic() - before)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await anyio.sleep(0.2)
            result = await run_agent_round(get_adapter("command"), request(tmp_path, worktree, program),
                                           limits=Limits(timeout_s=60, inactivity_s=30))  # fmt: skip
            tg.cancel_scope.cancel()
        return result

    result = anyio.run(main)
    assert result.outcome.ok
    started = time.monotonic()
    FileActivity(worktree).close()  # only the baseline walk's start: returns at once
    assert time.monotonic() - started < 0.05
    assert longest[0] < 0.15, f"the event loop was held up for {longest[0]:.2f}s"


def test_a_walk_leaves_out_git_and_stops_at_its_bound(tmp_path: Path) -> None:
    (tmp_path / "a.txt").touch()
    os.utime(tmp_path / "a.txt", (1000, 1000))
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "index").touch()
    os.utime(tmp_path / ".git" / "index", (5000, 5000))
    assert newest_mtime(tmp_path) == 1000
    assert newest_mtime(tmp_path, max_entries=0) == 0.0
