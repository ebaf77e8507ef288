"""What a command that drives a run says when it is stopped, or while it drives the run: the
run it was about, and a way on that works (README, "Task states and exit codes": 130)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from helpers import git, launcher_cli


def _start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "launcher", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), f"never reached: {path}"


def test_ctrl_c_of_land_of_the_latest_run_reports_that_run_and_names_it(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "check-started"
    (repo / "launcher.toml").write_text(
        f'default_agent = "scripted"\n[merge]\nintegration_check = "touch {marker}; sleep 30"\n'
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "config")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]}))
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]

    land = _start(repo, "land", "--json")  # no RUN: the latest
    _wait_for(marker, land)
    os.killpg(land.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    out, err = land.communicate(timeout=60)
    assert land.returncode == 130, err
    report = json.loads(out)  # the run's report, not "nothing was recorded"
    assert (report["run_id"], report["status"]) == (run_id, "interrupted")
    assert f"`launcher land {run_id}` continues" in err
    assert "again to finish" not in err


def _agents_at_work(db: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if (
                db.exists()
                and sqlite3.connect(db).execute("SELECT count(*) FROM tasks WHERE agent_pgid IS NOT NULL").fetchone()[0]
            ):
                return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.05)
    raise AssertionError("the demo's agents never started")


def test_ctrl_c_of_the_demo_names_its_sample_repo_and_how_to_finish_or_remove_it(tmp_path: Path) -> None:
    sample = tmp_path / "w" / "calc-repo"
    demo = _start(tmp_path, "demo", "--json", "--where", "w")
    _agents_at_work(sample / ".launcher" / "launcher.db", demo)
    os.killpg(demo.pid, signal.SIGINT)
    out, err = demo.communicate(timeout=60)
    assert demo.returncode == 130, err
    report = json.loads(out)  # the demo's run, found in its sample repo, not here
    run_id = report["run_id"]
    assert report["status"] == "interrupted"
    assert "again to finish" not in err  # again would build a new sample repo, never finish this one
    resume = f"`cd {sample.resolve()} && launcher resume {run_id}` finishes it"
    assert resume in err
    assert f"`cd {sample.resolve()} && launcher clean --all --force`, then delete {sample.resolve()}" in err

    finished = launcher_cli(sample, "resume", run_id, "--json")  # as the line says
    assert finished.returncode == 0 or finished.returncode == 1, finished.stderr  # 1: the demo's planned failures
    assert json.loads(finished.stdout)["status"] in ("succeeded", "failed")


def test_status_of_a_run_another_launcher_drives_names_that_launcher_not_resume(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "slow", "script": [{"sleep": 30}]}]}))
    db = repo / ".launcher" / "launcher.db"
    first = _start(repo, "run", str(plan), "-q")
    _agents_at_work(db, first)
    os.killpg(first.pid, signal.SIGINT)
    _out, err = first.communicate(timeout=60)
    assert first.returncode == 130 and "`launcher resume" in err  # said while nothing drives it: true

    resume = _start(repo, "resume", "-q")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and resume.poll() is None:
            row = sqlite3.connect(db).execute("SELECT status, launcher_pid FROM runs").fetchone()
            if row == ("running", resume.pid):
                break
            time.sleep(0.05)
        shown = json.loads(launcher_cli(repo, "status", "--json").stdout)
        assert shown["status"] == "running"
        assert f"being driven by launcher pid {resume.pid}" in shown["message"]
        assert "launcher resume" not in shown["message"]  # a second resume is refused (run_busy)
        text = launcher_cli(repo, "status").stdout
        assert f"running - being driven by launcher pid {resume.pid}" in text
    finally:
        os.killpg(resume.pid, signal.SIGINT)
        resume.communicate(timeout=60)


def test_a_shard_run_stopped_and_resumed_writes_the_export_it_was_asked_for(repo: Path, tmp_path: Path) -> None:
    started = tmp_path / "agent-started"  # the agent's first process sleeps; the resumed one does not
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "a", "script": [
        {"run": ["sh", "-c", f'[ -e "{started}" ] || {{ touch "{started}"; sleep 60; }}']},
        {"write": "a.txt", "content": "a\n"}]}]}))
    out = tmp_path / "export"
    shard = _start(repo, "run", str(plan), "--shard", "1/1", "--no-merge", "--export", str(out), "--json")
    _wait_for(started, shard)
    os.killpg(shard.pid, signal.SIGINT)
    _, err = shard.communicate(timeout=60)
    assert shard.returncode == 130, err
    assert not (out / "launcher-export.json").exists()
    run_id = err.split("`launcher resume ")[1].split("`")[0]

    resumed = launcher_cli(repo, "resume", run_id, "--json")  # what the interruption said to do

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"exported 1 approved task(s) to {out}" in resumed.stderr
    manifest = json.loads((out / "launcher-export.json").read_text())
    assert (manifest["run_id"], manifest["shard"]) == (run_id, "1/1")
    assert [t["id"] for t in manifest["tasks"]] == ["a"]
    assert (out / "branches.bundle").is_file()
    again = launcher_cli(repo, "resume", run_id, "--json")  # written once: a second resume leaves it
    assert "exported" not in again.stderr


def test_ctrl_c_of_land_from_during_a_resolution_round_names_a_command_that_finishes_it(
        repo: Path, tmp_path: Path) -> None:
    (repo / "shared.txt").write_text("line1\nline2\nline3\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "shared")
    in_round = tmp_path / "round-started"  # beta's resolution round sleeps in its first process only
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"run": {"on_conflict": "agent"}, "task": [
        {"id": "alpha", "script": [{"replace": "shared.txt", "old": "line2", "new": "line2 by alpha"}]},
        {"id": "beta", "script": [
            {"replace": "shared.txt", "old": "line2", "new": "line2 by beta", "rounds": [1]},
            {"run": ["sh", "-c", f'[ -e "{in_round}" ] || {{ touch "{in_round}"; sleep 60; }}'], "rounds": [2]},
            {"write": "shared.txt", "content": "line1\nline2 by both\nline3\n", "rounds": [2]}]},
    ]}))
    out = tmp_path / "export"
    done = launcher_cli(repo, "run", str(plan), "--shard", "1/1", "--no-merge", "--export", str(out), "--quiet")
    assert (out / "launcher-export.json").exists(), done.stdout + done.stderr
    final = tmp_path / "final"
    git(tmp_path, "clone", "-q", str(repo), str(final))

    land = _start(final, "land", "--from", str(out))
    _wait_for(in_round, land)
    os.killpg(land.pid, signal.SIGINT)
    _, err = land.communicate(timeout=60)
    assert land.returncode == 130, err
    line = next(text for text in err.splitlines() if text.startswith("interrupted: state saved;"))
    command = line.split("`")[1].split()

    continued = launcher_cli(final, *command[1:], "--json")  # exactly what the line says

    assert continued.returncode == 0, continued.stdout + continued.stderr
    report = json.loads(continued.stdout)
    assert {t["id"]: t["state"] for t in report["tasks"]} == {"alpha": "merged", "beta": "merged"}
    assert git(final, "show", "main:shared.txt") == "line1\nline2 by both\nline3\n"
