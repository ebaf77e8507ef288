"""`status` of a run whose landing was killed half-way (the target moved, the main work tree not
updated) says so and names the command that finishes it: never `succeeded` or `failed` with
the landed tasks shown `merged: false` and nothing else, which invites committing the staged
changes that undo the landed work."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from helpers import git, git_on_path, launcher_cli


def _git_killing_the_launcher_at_the_tree_update(tmp_path: Path) -> dict[str, str]:
    """A `git` that SIGKILLs the launcher when it is about to bring the main work tree to the
    target's new tip (`read-tree -m -u`): the target ref has moved, the tree has not."""
    return git_on_path(tmp_path, 'case "$*" in "read-tree -m -u"*) kill -9 $PPID; exit 1;; esac')


def _land_killed_at_the_tree_update(repo: Path, tmp_path: Path) -> None:
    """Two approved tasks of a --no-merge run; `land` killed after main moved, before the tree."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [
        {"id": f"n{n}", "script": [{"write": f"n{n}.txt", "content": f"{n}\n"}]} for n in range(2)]}))
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 0
    killed = launcher_cli(repo, "land", "--quiet", env=_git_killing_the_launcher_at_the_tree_update(tmp_path))
    assert killed.returncode == -9, killed.stderr


def test_status_after_a_land_killed_between_the_ref_and_the_tree_says_so_and_how_to_finish(
    repo: Path, tmp_path: Path
) -> None:
    _land_killed_at_the_tree_update(repo, tmp_path)
    assert git(repo, "status", "--porcelain", "--untracked-files=no").split() == ["D", "n0.txt", "D", "n1.txt"]
    run_id = sqlite3.connect(repo / ".launcher" / "launcher.db").execute("SELECT id FROM runs").fetchone()[0]
    tip = git(repo, "rev-parse", "main").strip()

    shown = launcher_cli(repo, "status", "--json", "--exit-status")
    report = json.loads(shown.stdout)
    assert report["status"] == "interrupted" and shown.returncode == 130, report
    message = report["message"]
    assert f"its landing into main was left unfinished (main moved to {tip[:12]} but the main work tree " \
           "was not updated" in message, message
    assert "do not commit them" in message and f"`launcher resume {run_id}`" in message
    assert f"`launcher land {run_id}`" in message
    assert "interrupted" in launcher_cli(repo, "runs").stdout

    # A journal row a launcher left settled (an older launcher did) does not hide it either.
    with sqlite3.connect(repo / ".launcher" / "launcher.db") as db:
        db.execute("UPDATE runs SET status='succeeded', message=''")
    again = json.loads(launcher_cli(repo, "status", "--json").stdout)
    assert again["status"] == "interrupted" and "left unfinished" in again["message"], again

    landed = launcher_cli(repo, "land", "--json")  # what the message says finishes it
    final = json.loads(landed.stdout)
    assert landed.returncode == 0 and final["status"] == "succeeded", landed.stdout + landed.stderr
    assert [(t["state"], t["merged"]) for t in final["tasks"]] == [("merged", True)] * 2
    assert git(repo, "status", "--porcelain").strip() == ""
    assert json.loads(launcher_cli(repo, "status", "--json").stdout)["status"] == "succeeded"


def test_status_shows_the_tasks_of_a_half_done_landing_on_the_target_but_not_merged(repo: Path, tmp_path: Path) -> None:
    """The target already holds their merge commits (git says so) while the landing is not
    recorded and the main work tree is behind: each task says both, and how to finish it;
    `merged` (on the target and in the work tree) is not claimed until it is finished."""
    _land_killed_at_the_tree_update(repo, tmp_path)
    run_id = sqlite3.connect(repo / ".launcher" / "launcher.db").execute("SELECT id FROM runs").fetchone()[0]
    assert git(repo, "show", "main:n0.txt") == "0\n" and git(repo, "show", "main:n1.txt") == "1\n"

    report = json.loads(launcher_cli(repo, "status", "--json").stdout)
    for task in report["tasks"]:
        assert (task["state"], task["merged"]) == ("approved", False), task
        said = task["landing_unfinished"]
        assert said.startswith("on main (merge ") and "not recorded as landed" in said, said
        assert "the main work tree was not brought to it" in said and "do not commit them" in said
        assert f"`launcher resume {run_id}`" in said and f"`launcher land {run_id}`" in said

    text = launcher_cli(repo, "status", env={"COLUMNS": "400"}).stdout
    rows = [line for line in text.splitlines() if line.lstrip("│ ").startswith(("n0 ", "n1 "))]
    assert len(rows) == 2 and all("unfinished" in row and "on main (merge" in row for row in rows), text

    assert launcher_cli(repo, "land", "--quiet").returncode == 0  # finished: merged, nothing else said
    final = json.loads(launcher_cli(repo, "status", "--json").stdout)
    assert [(t["state"], t["merged"], t["landing_unfinished"]) for t in final["tasks"]] == [("merged", True, None)] * 2
