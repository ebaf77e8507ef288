"""A stale `.git/index.lock` (left by a git process killed with -9: the user's editor, a killed
landing's `read-tree`) parks the landing; the park says which lock file it is and how to get out
(make sure no git runs, remove it), and following that advice lands the work."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli


def test_a_stale_index_lock_parks_the_landing_with_advice_to_remove_that_lock(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps({"task": [{"id": "a", "agent": "scripted", "script": [{"write": "a.txt", "content": "a\n"}]}]})
    )
    lock = repo / ".git" / "index.lock"
    lock.touch()  # its git process was killed

    done = launcher_cli(repo, "run", str(plan), "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 4, done.stderr  # parked: the result kept on the integration branch
    message = report["message"]
    assert str(lock) in message and "no git process is running" in message, message
    assert f"rm {lock}" in message, message
    assert "files named above" not in message, message  # none are

    lock.unlink()  # as advised
    landed = launcher_cli(repo, "land", report["run_id"], "--json")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert (repo / "a.txt").read_text() == "a\n"
    assert git(repo, "status", "--porcelain") == ""
