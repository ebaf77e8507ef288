"""One launcher drives a run at a time: every command that drives it (`run`, `resume`, `land`,
`choose`, `grade`, `clean` while it removes the run's trees) claims it in the journal first, in
one step with the check that nobody else holds it; a second one is refused with exit 2, naming
the live launcher's pid, and touches nothing (no tree removed, no process killed)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

from helpers import git, launcher_cli


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(extra)
    return env


def _start(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "launcher", *args], cwd=repo, env=env or _env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(predicate: object, what: str, timeout: float = 60) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _plan(path: Path, tasks: list[dict[str, object]], **run: object) -> Path:
    path.write_text(json.dumps({"run": run, "task": tasks}))
    return path


def _db(repo: Path) -> sqlite3.Connection:
    return sqlite3.connect(repo / ".launcher" / "launcher.db")


def test_resume_and_clean_during_a_land_are_refused_and_the_land_lands_everything(
    repo: Path, tmp_path: Path
) -> None:
    # Findings 2 and 3: `land` drove the run unclaimed, so `clean` removed its integration
    # check's tree and `resume` killed its check as a dead launcher's orphan: an innocent task
    # was blamed and failed.
    marker = tmp_path / "check-started"
    plan = _plan(tmp_path / "plan.json", [
        {"id": f"t{n}", "script": [{"write": f"t{n}.txt", "content": f"{n}\n"}]} for n in range(2)],
        integration_check=f"touch {marker}; sleep 8; test -f app.py")
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 0
    land = _start(repo, "land", "--json")
    _wait_for(marker.exists, "the land's integration check")

    resumed = launcher_cli(repo, "resume")
    assert resumed.returncode == 2, resumed.stdout + resumed.stderr
    assert f"still running (launcher pid {land.pid})" in resumed.stderr
    assert "orphaned" not in resumed.stdout + resumed.stderr  # it killed nothing
    named = launcher_cli(repo, "clean")  # the latest run, named implicitly: refused
    assert named.returncode == 2 and f"launcher pid {land.pid}" in named.stderr, named.stdout + named.stderr
    swept = launcher_cli(repo, "clean", "--all")  # every run: this one skipped
    assert swept.returncode == 0, swept.stderr
    assert f"still running (launcher pid {land.pid})" in swept.stdout

    out, err = land.communicate(timeout=120)
    assert land.returncode == 0, err
    report = json.loads(out)
    assert [(t["state"], t["merged"]) for t in report["tasks"]] == [("merged", True)] * 2, report
    assert report["queue"]["culprits"] == [] and report["status"] == "succeeded"
    assert (repo / "t0.txt").exists() and (repo / "t1.txt").exists()


def _slow_signing_read(tmp_path: Path) -> dict[str, str]:
    """A `git` that takes a second to answer `git config --get commit.gpgsign` (what resume
    reads before it drives the run), as on a loaded machine: the window two resumes raced in."""
    real = subprocess.run(["which", "git"], capture_output=True, text=True, check=True).stdout.strip()
    bin_dir = tmp_path / "slow-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\ncase "$*" in *commit.gpgsign*) sleep 1;; esac\nexec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return _env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_two_resumes_started_together_do_not_both_drive_the_run(repo: Path, tmp_path: Path) -> None:
    # Finding 4: each resume checked "still running?" and only recorded itself later, after git
    # calls: both passed the check and both ran every agent round in the same worktrees.
    plan = _plan(tmp_path / "plan.json", [
        {"id": f"t{n}", "script": [{"sleep": 2}, {"write": f"t{n}.txt", "content": f"{n}\n"}]} for n in range(2)])
    run = _start(repo, "run", str(plan), "--quiet")

    def agents_started() -> bool:
        try:
            return _db(repo).execute("SELECT count(*) FROM tasks WHERE agent_pgid IS NOT NULL").fetchone()[0] == 2
        except sqlite3.Error:
            return False

    _wait_for(agents_started, "the run's agents")
    os.kill(run.pid, signal.SIGKILL)
    run.wait()

    env = _slow_signing_read(tmp_path)
    first = _start(repo, "resume", "--quiet", env=env)
    time.sleep(0.05)
    second = _start(repo, "resume", "--quiet", env=env)
    results = [(p.pid, p.wait(timeout=120), p.stdout.read() if p.stdout else "", p.stderr.read() if p.stderr else "")
               for p in (first, second)]
    refused = [r for r in results if r[1] == 2]
    drove = [r for r in results if r[1] != 2]
    assert len(refused) == 1 and len(drove) == 1, results
    (driver_pid, code, _, err) = drove[0]
    assert code == 0, err
    assert f"still running (launcher pid {driver_pid})" in refused[0][3]
    assert "wait for that launcher to finish" in refused[0][3]  # and what to do
    (status,) = _db(repo).execute("SELECT status FROM runs").fetchone()
    assert status == "succeeded"
    assert {git(repo, "show", "main:t0.txt"), git(repo, "show", "main:t1.txt")} == {"0\n", "1\n"}


def test_a_refused_command_leaves_the_runs_status_as_it_was(repo: Path, tmp_path: Path) -> None:
    # The claim is taken before the command looks at the run: a command refused after it (a task
    # that is not escalated, no grader) gives the run back as it found it, never `running`.
    plan = _plan(tmp_path / "plan.json", [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}])
    assert launcher_cli(repo, "run", str(plan), "--quiet").returncode == 0
    chosen = launcher_cli(repo, "choose", _db(repo).execute("SELECT id FROM runs").fetchone()[0], "a", "approve")
    assert chosen.returncode == 2 and "not escalated" in chosen.stderr, chosen.stdout + chosen.stderr
    shown = launcher_cli(repo, "status", "--json", "--exit-status")
    assert shown.returncode == 0 and json.loads(shown.stdout)["status"] == "succeeded", shown.stdout


def test_a_dead_launchers_pid_reused_by_another_process_does_not_hold_the_run(repo: Path, tmp_path: Path) -> None:
    # The claim is the pid *and* its start time: after a crash the kernel may give the pid to
    # any process (here: this test's own, alive), which must not keep the run "still running".
    plan = _plan(tmp_path / "plan.json", [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}])
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 0
    with _db(repo) as db:
        db.execute("UPDATE runs SET status='running', launcher_pid=?, launcher_started=1", (os.getpid(),))
    shown = json.loads(launcher_cli(repo, "status", "--json").stdout)
    assert shown["status"] == "interrupted" and f"pid {os.getpid()}) is gone" in shown["message"], shown
    landed = launcher_cli(repo, "land", "--json")
    assert landed.returncode == 0, landed.stderr
    assert json.loads(landed.stdout)["tasks"][0]["state"] == "merged"


def test_a_refusal_by_a_suspended_launcher_says_it_is_stopped_and_how_to_continue_or_end_it(
    repo: Path, tmp_path: Path
) -> None:
    # A launcher suspended with Ctrl-Z keeps its claim; `kill PID` alone does nothing to a
    # stopped process, so the advice names `fg` / `kill -CONT`.
    marker = tmp_path / "check-started"
    plan = _plan(tmp_path / "plan.json", [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}],
                 integration_check=f"touch {marker}; sleep 3")
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 0
    land = _start(repo, "land", "--json")
    _wait_for(marker.exists, "the land's integration check")
    os.kill(land.pid, signal.SIGSTOP)
    try:
        _wait_for(lambda: Path(f"/proc/{land.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T",
                  "the launcher to stop")
        refused = launcher_cli(repo, "resume")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        said = " ".join(refused.stderr.split())
        assert "is stopped" in said and f"kill -CONT {land.pid}" in said, refused.stderr
        shown = json.loads(launcher_cli(repo, "status", "--json").stdout)
        assert shown["status"] == "running" and f"(pid {land.pid}) is stopped" in shown["message"], shown
    finally:
        os.kill(land.pid, signal.SIGCONT)
    out, err = land.communicate(timeout=120)
    assert land.returncode == 0, err
    assert json.loads(out)["tasks"][0]["state"] == "merged"
    running = launcher_cli(repo, "status", "--json")
    assert json.loads(running.stdout)["status"] == "succeeded"
