"""The user commits on the target at every compare-and-swap of a landing, until the landing
parks (README: the approved work is folded again onto the new tip up to 3 times, then the run
parks). A culprit of the integration check then gets its revision round, and the next landing
pass lands everything. The run's outcome says where the work is at the end: `succeeded`, not
`parked`, once every task landed; and the culprit's round starts from what is on the target,
never from the parked fold (which holds another task's unlanded merge)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import git, run_plan, task


def _user_commits_at_each_landing(tmp_path: Path, repo: Path, times: int) -> Path:
    """A `git` on PATH that makes a real user commit in the main checkout right before each of
    the launcher's first `times` moves of main (its compare-and-swap)."""
    real = shutil.which("git")
    counter = tmp_path / "moves"
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(f"""#!/bin/bash
if [[ " $* " == *"launcher: land refs/heads/main"* ]]; then
  n=$(cat {counter} 2>/dev/null || echo 0)
  if [ "$n" -lt {times} ]; then
    echo $((n+1)) > {counter}
    ( cd {repo} && echo "u$n" >> user.txt \\
      && env -u GIT_INDEX_FILE -u GIT_DIR -u GIT_WORK_TREE {real} add user.txt \\
      && env -u GIT_INDEX_FILE -u GIT_DIR -u GIT_WORK_TREE {real} commit -qm "user commit $n" ) >/dev/null 2>&1
  fi
fi
exec {real} "$@"
""")
    wrapper.chmod(0o755)
    return wrapper.parent


def test_a_later_pass_that_lands_everything_clears_the_park_and_the_culprit_round_builds_on_the_target(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{_user_commits_at_each_landing(tmp_path, repo, 4)}{os.pathsep}{os.environ['PATH']}")
    tasks = [
        {"id": "t2", "script": [{"write": "f_t2.txt", "content": "t2\n"}]},
        {
            "id": "t1",
            "script": [
                {"write": "f_t1.txt", "content": "t1\n", "rounds": [1]},  # breaks the check
                {"delete": "f_t1.txt", "rounds": [2]},
                {"write": "fixed_t1.txt", "content": "fixed\n", "rounds": [2]},
            ],
        },
    ]

    report = run_plan(repo, tasks, integration_check="test ! -e f_t1.txt", iteration_cap=2)

    assert {t.id: t.state for t in report.tasks} == {"t2": "merged", "t1": "merged"}, [t.message for t in report.tasks]
    assert report.status == "succeeded", report.message  # not "parked": the work is on main
    assert report.integration_branch is None
    assert report.queue.culprits == ["t1"]
    log = git(repo, "log", "--format=%s", "main").splitlines()
    assert sum(s.startswith("Merge t2 ") for s in log) == 1, log  # t2's merge reached main once
    assert sum(s.startswith("user commit") for s in log) == 4  # every user commit kept
    # t1's round merged main as it was (its user commits), not the parked fold holding t2's merge.
    into_t1 = [s for s in log if s.startswith("Merge main into")]
    assert len(into_t1) == 1, log
    assert git(repo, "show", "main:fixed_t1.txt") == "fixed\n"
    assert "f_t1.txt" not in git(repo, "ls-tree", "--name-only", "main").split()
    assert task(report, "t1").merged and task(report, "t2").merged
