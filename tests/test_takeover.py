"""A command that claims a run whose launcher was killed (-9) mid-round takes it over as `resume`
does, before it measures, grades or lands anything: the dead launcher's agents still running in
the worktrees are killed, and their uncommitted work is saved under
`refs/launcher/<run>/<task>/interrupted-*` (app/takeover.py, shared by resume, land, choose,
grade and clean)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from helpers import git, kill_the_launcher_once_written, launcher_cli, wait_group_gone

GRADER = {"judge": {"adapter": "scripted-grader", "set_env": {"LAUNCHER_GRADER_MODE": "always_satisfied"}}}


def _kill_the_launcher_once(repo: Path, tmp_path: Path, tasks: list[dict[str, Any]], task_id: str,
                            wrote: str) -> tuple[str, int]:
    """A graded run whose launcher is SIGKILLed once `task_id`'s agent wrote `wrote`."""
    plan = {"task": tasks, "run": {"grader": "judge"}, "agents": GRADER}
    return kill_the_launcher_once_written(repo, tmp_path, plan, task_id, wrote, settle=0.3)


def _saved_refs(repo: Path, run_id: str, task_id: str) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", f"refs/launcher/{run_id}/{task_id}/").split()


def test_grade_after_a_kill_mid_round_kills_the_agent_and_saves_its_uncommitted_work(
        repo: Path, tmp_path: Path) -> None:
    # Finding 1: `grade` re-graded and landed the committed half of the round while the orphaned
    # agent still ran, and the worktree's removal took its uncommitted file with it.
    script = [{"write": "one-a.txt", "content": "a\n"}, {"commit": "a"},
              {"write": "one-b.txt", "content": "UNCOMMITTED\n"}, {"sleep": 60}]
    run_id, pgid = _kill_the_launcher_once(repo, tmp_path, [{"id": "one", "script": script}], "one", "one-b.txt")
    os.killpg(pgid, 0)  # the agent is still at work (ProcessLookupError if not)

    graded = launcher_cli(repo, "grade", run_id, "one")
    assert wait_group_gone(pgid) == [], "the dead launcher's agent survived `launcher grade`"
    assert f"killed 1 orphaned process(es) of run {run_id}'s dead launcher" in graded.stdout + graded.stderr
    (saved,) = _saved_refs(repo, run_id, "one")
    assert saved.startswith(f"refs/launcher/{run_id}/one/interrupted-")
    assert git(repo, "show", f"{saved}:one-b.txt") == "UNCOMMITTED\n"


def test_land_after_a_kill_kills_the_agents_still_running(repo: Path, tmp_path: Path) -> None:
    # Finding 2: `land` landed what was approved and left the dead launcher's other agent running.
    tasks = [{"id": "fast", "script": [{"write": "fast.txt", "content": "f\n"}]},
             {"id": "slow", "script": [{"write": "slow.txt", "content": "s\n"}, {"sleep": 60}]}]
    run_id, pgid = _kill_the_launcher_once(repo, tmp_path, tasks, "slow", "slow.txt")
    os.killpg(pgid, 0)

    landed = launcher_cli(repo, "land", run_id)
    assert wait_group_gone(pgid) == [], "the dead launcher's agent survived `launcher land`"
    assert f"killed 1 orphaned process(es) of run {run_id}'s dead launcher" in landed.stdout + landed.stderr
    (saved,) = _saved_refs(repo, run_id, "slow")
    assert git(repo, "show", f"{saved}:slow.txt") == "s\n"
