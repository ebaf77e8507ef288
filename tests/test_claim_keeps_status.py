"""Claiming a run does not change what the run's status says: while a command that has driven
nothing yet (a `clean` removing trees, a `choose` about to be refused) holds the claim of a
finished run, and after such a command was killed (-9, a closed terminal), `launcher runs` and
`launcher status` still say the run's own status, not `running` or `interrupted`. A command
that did drive the run (a task's transition) and was killed leaves it `interrupted`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import launcher_cli

# A command holding the run's claim, as `launcher clean` holds it while it removes trees.
HOLD = """
import sys, time
from pathlib import Path
from launcher.store.journal import Journal
from launcher.models.states import TaskState
journal = Journal(Path(".launcher/launcher.db"))
journal.claim_run(sys.argv[1], "clean")
if sys.argv[2] == "drive":
    journal.transition(sys.argv[1], "t", TaskState.CHECKING, "re-measuring")
print("claimed", flush=True)
time.sleep(60)
"""


def _succeeded_run(repo: Path, tmp_path: Path) -> str:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "t", "script": [{"write": "t.txt", "content": "t\n"}]}]}))
    done = launcher_cli(repo, "run", str(plan), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "succeeded"
    return str(report["run_id"])


def _hold(repo: Path, run_id: str, mode: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, run_id, mode], cwd=repo, env=env,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "claimed"
    return holder


def _shown(repo: Path, run_id: str) -> tuple[str, str]:
    runs = launcher_cli(repo, "runs").stdout
    line = next(ln for ln in runs.splitlines() if ln.startswith(run_id))
    return line.split()[1], json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)["status"]


def test_a_finished_run_stays_finished_while_claimed_and_after_its_claimant_is_killed(
        repo: Path, tmp_path: Path) -> None:
    run_id = _succeeded_run(repo, tmp_path)
    holder = _hold(repo, run_id, "idle")
    try:
        assert _shown(repo, run_id) == ("succeeded", "succeeded")  # not "running" while a clean holds it
        busy = launcher_cli(repo, "resume", run_id)
        assert busy.returncode == 2 and f"launcher pid {holder.pid}" in busy.stderr  # still claimed
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert _shown(repo, run_id) == ("succeeded", "succeeded")  # not "interrupted"
    cleaned = launcher_cli(repo, "clean", run_id)
    assert cleaned.returncode == 0, cleaned.stderr
    assert _shown(repo, run_id) == ("succeeded", "succeeded")


def test_a_killed_command_that_had_driven_the_run_leaves_it_interrupted(repo: Path, tmp_path: Path) -> None:
    run_id = _succeeded_run(repo, tmp_path)
    holder = _hold(repo, run_id, "drive")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert _shown(repo, run_id) == ("interrupted", "interrupted")
