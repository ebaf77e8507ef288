"""Ctrl-C during `launcher land --from DIR` (the final CI job): the run it journaled is named, as
for any command that drives a run: the 130 line says `launcher land RUN` continues it, `--json`
prints that run's report (status `interrupted`), never "nothing was recorded, start it again".
And if `land --from` is run again all the same (a second run lands the work), a later `launcher
land` of the first run says its task is already on the target, not `blocked` "approval withdrawn".
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from helpers import git, launcher_cli, start_launcher, wait_for_file


def _exported_and_cloned(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """(a clone for the final job, the shard's export, the file that makes the integration check
    slow, the file it touches once started)."""
    slow, started = tmp_path / "slow", tmp_path / "check-started"
    shard = tmp_path / "shard"
    shard.mkdir()
    git(shard, "init", "-q", "-b", "main")
    (shard / "README.md").write_text("# sample\n")
    git(shard, "add", "-A")
    git(shard, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "initial")
    plan = tmp_path / "plan.json"
    check = f"if [ -e {slow} ]; then touch {started}; sleep 30; fi"
    plan.write_text(
        json.dumps(
            {
                "run": {"integration_check": check},
                "task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}],
            }
        )
    )
    out = tmp_path / "exp"
    done = launcher_cli(shard, "run", str(plan), "--quiet", "--shard", "1/1", "--no-merge", "--export", str(out))
    assert done.returncode == 0, done.stderr
    final = tmp_path / "final"
    git(tmp_path, "clone", "-q", str(shard), str(final))
    git(final, "config", "user.name", "ci")
    git(final, "config", "user.email", "ci@example.invalid")
    return final, out, slow, started


def _land_from_stopped(final: Path, out: Path, slow: Path, started: Path) -> tuple[str, str, str]:
    """`land --from DIR --json` stopped by Ctrl-C in its integration check: (its stdout, its
    stderr, the run it journaled)."""
    slow.touch()
    proc = start_launcher(final, "land", "--from", str(out), "--json")
    wait_for_file(started, proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    stdout, stderr = proc.communicate(timeout=60)
    slow.unlink()
    assert proc.returncode == 130, stderr
    (run,) = json.loads(launcher_cli(final, "runs", "--json").stdout)
    return stdout, stderr, str(run["run_id"])


def test_ctrl_c_of_land_from_names_the_run_it_recorded_and_land_of_that_run_finishes_it(tmp_path: Path) -> None:
    final, out, slow, started = _exported_and_cloned(tmp_path)
    stdout, stderr, run_id = _land_from_stopped(final, out, slow, started)

    report = json.loads(stdout)
    assert (report["run_id"], report["status"]) == (run_id, "interrupted")
    assert f"`launcher land {run_id}` continues" in stderr
    assert "again to finish" not in stderr and "nothing to report" not in stdout

    landed = launcher_cli(final, "land", run_id, "--json")  # as the line says
    assert landed.returncode == 0, landed.stderr
    assert [(t["id"], t["state"]) for t in json.loads(landed.stdout)["tasks"]] == [("a", "merged")]
    assert (final / "a.txt").read_text() == "a\n"
    assert len(json.loads(launcher_cli(final, "runs", "--json").stdout)) == 1


def test_land_of_a_stopped_land_from_run_whose_work_a_second_land_from_landed_says_merged_not_blocked(
    tmp_path: Path,
) -> None:
    final, out, slow, started = _exported_and_cloned(tmp_path)
    _, _, first = _land_from_stopped(final, out, slow, started)
    again = launcher_cli(final, "land", "--from", str(out), "--json")  # a second run lands the work
    assert again.returncode == 0, again.stderr
    landings = git(final, "log", "--oneline", "main").count("\n")

    later = launcher_cli(final, "land", first, "--json")
    assert later.returncode == 0, later.stderr
    (task,) = json.loads(later.stdout)["tasks"]
    assert (task["state"], task["merged"]) == ("merged", True)
    assert "already landed on main" in task["message"]
    assert "withdrawn" not in task["message"]
    assert git(final, "log", "--oneline", "main").count("\n") == landings  # nothing landed twice
    assert launcher_cli(final, "status", first, "--exit-status").returncode == 0
