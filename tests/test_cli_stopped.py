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

import pytest
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


def test_ctrl_c_just_after_the_run_is_journaled_reports_that_run_as_interrupted(repo: Path, tmp_path: Path) -> None:
    # The signal comes while the run starts, once it is journaled and before its first task:
    # a `git` first on PATH signals the launcher at the run's first `git worktree list`.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    done_marker = tmp_path / "signalled"
    real_git = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True).stdout.strip()
    (bin_dir / "git").write_text(
        "#!/bin/sh\n"
        f'if [ "$1 $2" = "worktree list" ] && [ ! -e {done_marker} ]; then\n'
        f"  touch {done_marker}; kill -INT $PPID; sleep 0.3\n"
        f'fi\nexec {real_git} "$@"\n')
    (bin_dir / "git").chmod(0o755)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    done = subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--json", "--quiet"], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done_marker.exists(), "the run never listed its worktrees"
    assert done.returncode == 130, done.stderr
    (run_id,) = sqlite3.connect(repo / ".launcher" / "launcher.db").execute("SELECT id FROM runs").fetchone()
    report = json.loads(done.stdout)  # the run's report, not "interrupted before a run was recorded"
    assert (report["run_id"], report["status"]) == (run_id, "interrupted")
    assert f"`launcher resume {run_id}` continues" in done.stderr


SIGNAL_WHILE_BUILDING = """
import os, signal, sys
import typer.main
build = typer.main.get_command
which = getattr(signal, sys.argv[1])
def signalled(app):
    os.kill(os.getpid(), which)  # arrives while typer builds the commands
    return build(app)
typer.main.get_command = signalled
sys.argv = ["launcher", "status"]
from launcher.cli.entry import main
main()
"""


def test_a_signal_while_the_cli_builds_its_commands_says_nothing_was_done(repo: Path) -> None:
    for name in ("SIGTERM", "SIGINT"):
        done = subprocess.run([sys.executable, "-c", SIGNAL_WHILE_BUILDING, name], cwd=repo,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 130, (name, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        assert "nothing was done" in done.stderr, done.stderr


SIGTERM_IN_A_TASK = """
import contextlib, os, signal, sys, traceback
import launcher.git.repo as repo_module
take = repo_module.file_lock
fired = []
@contextlib.asynccontextmanager
async def signalled(path):
    if not fired and any(frame.name == "add_scratch" for frame in traceback.extract_stack()):
        fired.append(1)
        os.kill(os.getpid(), signal.SIGTERM)  # while a task of the run's task group takes the lock
    async with take(path):
        yield
repo_module.file_lock = signalled
sys.argv = ["launcher", "run", sys.argv[1], "--quiet"]
from launcher.cli.entry import main
main()
"""


def test_sigterm_while_a_task_runs_its_own_code_stops_the_run_without_a_traceback(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"run": {"grader": "scripted-grader"},
                                "task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]}))
    done = subprocess.run([sys.executable, "-c", SIGTERM_IN_A_TASK, str(plan)], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "unhandled exception" not in done.stderr, done.stderr
    assert "interrupted: state saved; `launcher resume r-" in done.stderr, done.stderr


def test_an_interrupted_run_whose_report_cannot_be_read_is_still_named(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # A second Ctrl-C while the report is read: the run exists, so the envelope names it and
    # never says that no run was recorded.
    from launcher.cli.run_view import print_interrupted_report

    git(tmp_path, "init", "-q")
    print_interrupted_report("r-20261206-000000-abcd", tmp_path)
    envelope = json.loads(capsys.readouterr().out)
    assert envelope["run_id"] == "r-20261206-000000-abcd" and envelope["error_key"] == "interrupted"
    assert "before a run was recorded" not in envelope["observations"]
    assert "launcher status r-20261206-000000-abcd" in envelope["usage"]


@pytest.mark.parametrize("gap", [0.0, 0.05, 0.2, 0.4, 0.6, 0.8])
def test_a_second_sigterm_still_ends_in_the_interrupted_exit_code(repo: Path, tmp_path: Path, gap: float) -> None:
    started = tmp_path / "agent-started"
    plan = tmp_path / "plan.toml"
    plan.write_text('[[task]]\nid = "t1"\nagent = "bot"\nprompt = "p"\n[agents.bot]\nadapter = "command"\n'
                    f'command = ["sh", "-c", "touch {started}; sleep 30"]\n')
    proc = _start(repo, "run", str(plan), "--json")
    _wait_for(started, proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(gap)
    proc.send_signal(signal.SIGTERM)  # while the first one's report is read, printed, or at exit
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # never left spinning behind the test
        raise
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err, err
    assert json.loads(out)["run_id"].startswith("r-")


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


@pytest.mark.parametrize("gap", [0.0, 0.3])
def test_a_second_ctrl_c_does_not_cut_short_the_stop_of_an_agent_that_ignores_sigterm(
        repo: Path, tmp_path: Path, gap: float) -> None:
    # Pressing Ctrl-C twice is common. The second one used to interrupt the stop itself: the
    # agent that ignores SIGTERM never got its SIGKILL, and the launcher waited for it to end.
    started = tmp_path / "agent-pid"
    plan = tmp_path / "plan.toml"
    plan.write_text('[[task]]\nid = "t1"\nagent = "bot"\nprompt = "p"\n[agents.bot]\nadapter = "command"\n'
                    f"command = [\"sh\", \"-c\", \"trap '' TERM INT; echo $$ > {started}.tmp; "
                    f"mv {started}.tmp {started}; sleep 120\"]\n")
    proc = _start(repo, "run", str(plan), "--json")
    _wait_for(started, proc)
    agent_pid = int(started.read_text())
    began = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    time.sleep(gap)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        os.kill(agent_pid, signal.SIGKILL)
        raise
    assert proc.returncode == 130, (proc.returncode, err)
    assert time.monotonic() - began < 30, "the agent was waited for instead of killed"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    if gap:  # two SIGINTs sent back to back may reach the process as one (signals do not queue)
        assert "already stopping" in err, err
    assert json.loads(out)["run_id"].startswith("r-")
    with pytest.raises(ProcessLookupError):
        os.kill(agent_pid, 0)  # SIGKILLed after its grace, not left behind
