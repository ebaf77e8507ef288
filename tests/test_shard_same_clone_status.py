"""A clone that ran a shard (`run --shard I/N --no-merge --export DIR`) and then landed the export
itself (`land --from DIR`): the shard run's own record says its task landed (`merged`, with the
landing commit), so `status` is true, and after `launcher clean --all` a `launcher land <shard
run>` has nothing to land and succeeds instead of failing for work that is on the target."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli


def test_the_shard_run_says_its_task_landed_after_land_from_in_the_same_clone(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]}))
    export = tmp_path / "export"
    shard = launcher_cli(repo, "run", str(plan), "--shard", "1/1", "--no-merge", "--export", str(export), "--json")
    assert shard.returncode == 0, shard.stdout + shard.stderr
    shard_run = json.loads(shard.stdout)["run_id"]
    landed = launcher_cli(repo, "land", "--from", str(export), "--json")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    landing = git(repo, "rev-parse", "main").strip()

    status = json.loads(launcher_cli(repo, "status", shard_run, "--json").stdout)

    a = next(t for t in status["tasks"] if t["id"] == "a")
    assert (a["state"], a["merged"], a["branch"]) == ("merged", True, None), a
    assert landing[:12] in a["message"] and "land --from" in a["message"]

    launcher_cli(repo, "clean", "--all")
    again = launcher_cli(repo, "land", shard_run, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    report = json.loads(again.stdout)
    assert report["status"] == "succeeded"
    assert [(t["id"], t["state"], t["merged"]) for t in report["tasks"]] == [("a", "merged", True)]
    assert git(repo, "show", "main:a.txt") == "a\n"
