"""`launcher land --from DIR` after `launcher land RUN` of that shard in the clone that ran it
(which writes DIR's export again, its landed tasks listed as not exported: "merged: landed on
main"): the tasks are reported merged ("already landed ...; not landed again"), never failed, as
this clone's journal records that landing and it is on the target."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import launcher_cli
from test_conc9_land_overlap import _all_merged, _landed_once, _shard


def test_land_from_after_land_run_of_its_shard_reports_the_tasks_merged(repo: Path, tmp_path: Path) -> None:
    export, run_id = _shard(repo, tmp_path)
    landed = launcher_cli(repo, "land", run_id, "--json")
    assert landed.returncode == 0, landed.stdout + landed.stderr  # it writes the export again

    again = launcher_cli(repo, "land", "--from", str(export), "--json")

    for message in _all_merged(again.returncode, json.loads(again.stdout)).values():
        assert message == message.replace("not exported", "") and f"`launcher land {run_id}`" in message, message
        assert "already landed on main by " in message, message
    _landed_once(repo)
