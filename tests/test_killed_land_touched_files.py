"""A landing killed after the target moved, whose files the user touched before it was finished
(a tracked file edited, an untracked file put where the landing adds one): the recovery parks the
result and its message names every file that blocks the merge it advises, so that the advice
works once the user has done what it says. Real repositories, the real CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from helpers import git, launcher_cli
from test_killed_land_status import _git_killing_the_launcher_at_the_tree_update


def test_a_parked_recovery_names_the_users_untracked_file_in_the_way_and_its_advice_works(
    repo: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [
        {"id": "t1", "script": [{"write": "files/t1.txt", "content": "landed\n"},
                                {"write": "app.py", "content": "landed = True\n"}]}]}))
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 0
    killed = launcher_cli(repo, "land", "--quiet", env=_git_killing_the_launcher_at_the_tree_update(tmp_path))
    assert killed.returncode == -9, killed.stderr
    run_id = sqlite3.connect(repo / ".launcher" / "launcher.db").execute("SELECT id FROM runs").fetchone()[0]
    old = git(repo, "rev-parse", "main~1").strip()

    # The user, meanwhile, makes changes of their own (the index is still at the old tip).
    (repo / "README.md").write_text("# sample\nmine\n")
    (repo / "files").mkdir()
    (repo / "files" / "t1.txt").write_text("my own t1\n")

    resumed = launcher_cli(repo, "land", "--json")
    report = json.loads(resumed.stdout)
    assert report["status"] == "parked", resumed.stdout + resumed.stderr
    assert git(repo, "rev-parse", "main").strip() == old  # the target was put back
    branch = report["integration_branch"]
    message = report["message"]
    assert "README.md" in message and "files/t1.txt" in message, message
    assert f"`git merge --ff-only {branch}` on main" in message, message
    # the user's files are intact
    assert (repo / "README.md").read_text() == "# sample\nmine\n"
    assert (repo / "files" / "t1.txt").read_text() == "my own t1\n"

    assert "`git stash`" in message and "move files/t1.txt out of the work tree" in message, message
    # Doing what it says: the changes stashed, the untracked file moved out; the merge works.
    git(repo, "stash", "-q")
    (repo / "files" / "t1.txt").rename(tmp_path / "t1.mine")
    git(repo, "merge", "-q", "--ff-only", branch)
    git(repo, "stash", "pop", "-q")
    assert (repo / "files" / "t1.txt").read_text() == "landed\n" and (repo / "app.py").read_text() == "landed = True\n"
    assert (repo / "README.md").read_text() == "# sample\nmine\n"
    assert launcher_cli(repo, "land", "--quiet").returncode == 0, run_id
    assert [t["merged"] for t in json.loads(launcher_cli(repo, "status", "--json").stdout)["tasks"]] == [True]
