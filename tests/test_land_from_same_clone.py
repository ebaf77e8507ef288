"""`launcher land --from DIR` in the clone that ran the shard itself (the shard's worktrees are
kept there): work the queue sends back gets its round in the task's recorded worktree, which is
the shard's, under the shard's run id."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers import git, launcher_cli


def test_a_culprits_revision_round_runs_in_the_shards_worktree(repo: Path, tmp_path: Path) -> None:
    script = tmp_path / "check.py"
    script.write_text("import pathlib, sys\nf = pathlib.Path('f.txt')\n"
                      "sys.exit(f.exists() and 'BROKEN' in f.read_text())\n")
    check = f"{sys.executable} {script}"
    plan = {"run": {"integration_check": check}, "task": [
        {"id": "good", "script": [{"write": "good.txt", "content": "good\n"}]},
        {"id": "b", "script": [{"write": "f.txt", "content": "BROKEN\n", "rounds": [1]},
                               {"write": "f.txt", "content": "fixed\n", "rounds": [2]}]}]}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    export = tmp_path / "export"
    shard = launcher_cli(repo, "run", str(tmp_path / "plan.json"), "--shard", "1/1", "--no-merge",
                         "--export", str(export), "--quiet")
    assert shard.returncode == 0, shard.stdout + shard.stderr

    landed = launcher_cli(repo, "land", "--from", str(export), "--json")

    assert landed.returncode == 0, landed.stdout + landed.stderr
    report = json.loads(landed.stdout)
    states = {t["id"]: (t["state"], t["message"]) for t in report["tasks"]}
    assert states["b"][0] == "merged" and states["good"][0] == "merged", states
    assert report["queue"]["returned"] == ["b"]
    assert git(repo, "show", "main:f.txt") == "fixed\n"


def test_running_land_from_again_after_a_revision_round_says_what_moved_the_branch(
        repo: Path, tmp_path: Path) -> None:
    script = tmp_path / "check.py"
    script.write_text("import pathlib, sys\nsys.exit(pathlib.Path('f.txt').exists())\n")
    plan = {"run": {"integration_check": f"{sys.executable} {script}", "iteration_cap": 2},
            "task": [{"id": "b", "script": [{"write": "f.txt", "content": "one\n", "rounds": [1]},
                                            {"write": "f.txt", "content": "two\n", "rounds": [2]}]}]}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    export = tmp_path / "export"
    launcher_cli(repo, "run", str(tmp_path / "plan.json"), "--shard", "1/1", "--no-merge",
                 "--export", str(export), "--quiet")
    first = launcher_cli(repo, "land", "--from", str(export), "--json")
    assert {t["id"]: t["state"] for t in json.loads(first.stdout)["tasks"]} == {"b": "failed"}

    again = launcher_cli(repo, "land", "--from", str(export))

    said = again.stdout + again.stderr
    assert again.returncode == 2, said
    assert "earlier `launcher land --from` here" in said and "fresh clone" in said
    assert "git branch -D" in said and "of one plan" not in said
