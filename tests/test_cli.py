"""The `launcher` command as a user runs it: exit codes, --json, status, logs, clean, demo."""

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
from helpers import git, launcher_cli, wait_group_gone

REPORT_KEYS = {"run_id", "status", "base_sha", "target", "tasks"}
TASK_KEYS = {"id", "state", "branch", "head_sha", "merged", "cost_usd", "contract", "rounds"}


def write_plan(path: Path, tasks: list[dict[str, object]], **run: object) -> Path:
    path.write_text(json.dumps({"run": run, "task": tasks}))
    return path


def test_run_json_report_and_exit_code_zero_when_everything_lands(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", [
        {"id": "one", "role": "backend", "script": [{"write": "one.txt", "content": "1"}]},
        {"id": "two", "role": "frontend", "script": [{"write": "two.txt", "content": "2"}]},
    ])
    done = launcher_cli(repo, "run", str(plan), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report.keys() >= REPORT_KEYS
    assert report["status"] == "succeeded" and report["target"] == "main"
    for entry in report["tasks"]:
        assert entry.keys() >= TASK_KEYS
        assert entry["state"] == "merged" and entry["merged"] is True
        assert entry["contract"]["status"] == "done"
    status = launcher_cli(repo, "status", report["run_id"], "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["tasks"] == report["tasks"]


def test_conflict_exits_1_and_the_plain_output_has_one_line_per_transition(
    repo: Path, tmp_path: Path
) -> None:
    edit = {"replace": "app.py", "old": "return a + b"}
    plan = write_plan(tmp_path / "plan.json", [
        {"id": "first", "script": [{**edit, "new": "return 1"}]},
        {"id": "second", "script": [{**edit, "new": "return 2"}]},
    ])
    done = launcher_cli(repo, "run", str(plan), "--quiet")
    assert done.returncode == 1
    lines = done.stdout.splitlines() + done.stderr.splitlines()
    assert any(" second conflicted " in f" {line} " for line in lines)
    assert any(" first merged " in f" {line} " for line in lines)


def test_usage_and_environment_errors(repo: Path, tmp_path: Path) -> None:
    missing = launcher_cli(repo, "run", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "cannot read the plan" in missing.stderr
    nothing = launcher_cli(repo, "run")
    assert nothing.returncode == 2 and "plan file or at least one --task" in nothing.stderr
    not_repo = tmp_path / "plain"
    not_repo.mkdir()
    outside = launcher_cli(not_repo, "status")
    assert outside.returncode == 3 and "not inside a git work tree" in outside.stderr
    prompt = launcher_cli(not_repo, "run", "--task", "x")  # not "no default_agent": there is no repo
    assert prompt.returncode == 3 and "not inside a git work tree" in prompt.stderr, prompt.stderr
    unknown = launcher_cli(repo, "status", "r-20990101-000000-abcd")
    assert unknown.returncode == 2
    cycle = write_plan(tmp_path / "cycle.json", [
        {"id": "a", "depends_on": ["b"]}, {"id": "b", "depends_on": ["a"]}])
    bad = launcher_cli(repo, "run", str(cycle), "--json")
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["error_key"] == "plan_invalid:dependency_cycle"
    assert "Traceback" not in bad.stderr


def test_task_flags_logs_clean_and_github_summary(repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    done = launcher_cli(repo, "run", "--task", "noop one", "--task", "noop two", "--agent", "scripted", "--json",
                        env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [t["id"] for t in report["tasks"]] == ["task-1", "task-2"]
    assert "task-1" in summary.read_text() and "|" in summary.read_text()

    plan = write_plan(tmp_path / "plan.json", [
        {"id": "broken", "checks": ["false"], "script": [{"say": "hello from the agent"},
                                                          {"write": "b.txt", "content": "b"}]}])
    failed = json.loads(launcher_cli(repo, "run", str(plan), "--json").stdout)
    run_id = failed["run_id"]
    logs = launcher_cli(repo, "logs", run_id, "broken")
    assert logs.returncode == 0 and "hello from the agent" in logs.stdout
    worktree = Path(failed["tasks"][0]["worktree"])
    assert worktree.is_dir()
    cleaned = launcher_cli(repo, "clean", run_id)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not worktree.exists()
    kept = git(repo, "branch", "--list", "launcher/*").split()  # the failed task's commit is kept
    assert kept == [f"launcher/{run_id}/broken"] and f"kept branch {kept[0]}" in cleaned.stdout
    assert launcher_cli(repo, "clean", run_id, "--force").returncode == 0
    assert git(repo, "branch", "--list", "launcher/*").strip() == ""


def test_init_writes_starter_files_once(repo: Path) -> None:
    first = launcher_cli(repo, "init")
    assert first.returncode == 0
    assert (repo / "launcher.toml").exists() and (repo / ".worktreeinclude").exists()
    assert "### C1." in (repo / "rubrics" / "default.md").read_text()
    assert (repo / "rubrics" / "backend.md").exists()
    assert json.loads((repo / "mutation" / "calibration-set.json").read_text())["calibration"]
    assert "classify surviving mutants" in (repo / "mutation" / "judge-prompt.md").read_text()
    example = launcher_cli(repo, "run", "plan.example.toml", "--json")
    assert example.returncode == 0, example.stderr
    assert json.loads(example.stdout)["tasks"][0]["state"] == "merged"
    again = launcher_cli(repo, "init")
    assert "nothing to do" in again.stdout


def test_demo_runs_the_whole_pipeline(tmp_path: Path) -> None:
    started = time.monotonic()
    done = launcher_cli(tmp_path, "demo", "--quiet", "--where", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    out = done.stdout + done.stderr
    for expected in ("backend-mul", "docs-mul", "devops-version", "frontend-banner", "qa-div",
                     "conflicted", "failed", "merged", "needs_revision — failed: C2",
                     "iteration 2: satisfied — all criteria pass"):
        assert expected in out
    repo = tmp_path / "demo" / "calc-repo"
    assert "def mul" in (repo / "calc" / "core.py").read_text()
    assert (repo / "tests" / "test_mul.py").exists()  # the revision round's fix landed
    assert 'GREETING = "calc 1.1"' in (repo / "calc" / "core.py").read_text()
    assert not (repo / "tests" / "test_div.py").exists()
    # Paths and commands are printed whole (never folded at the terminal width), to copy and paste.
    assert f"  git -C {repo} log --oneline --graph    # what landed" in done.stdout.splitlines()
    kept = next(line for line in done.stdout.splitlines() if line.startswith("  qa-div: launcher/"))
    assert Path(kept.split()[-1]).is_dir()


def test_ctrl_c_kills_every_child_saves_state_and_exits_130(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", [
        {"id": f"slow{n}", "script": [{"write": f"s{n}.txt", "content": "s"},
                                      {"spawn_sleeper": 60}, {"sleep": 2, "attempts": [1]}]}
        for n in range(3)
    ])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(plan), "--quiet"],
                            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = repo / ".launcher" / "launcher.db"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if db.exists() and sqlite3.connect(db).execute(
                "SELECT count(*) FROM tasks WHERE agent_pgid IS NOT NULL").fetchone()[0] == 3:
                break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    connection = sqlite3.connect(db)
    (run_id, status) = connection.execute("SELECT id, status FROM runs").fetchone()
    assert status == "interrupted"
    pgids = [row[0] for row in connection.execute("SELECT agent_pgid FROM tasks")]
    for pgid in pgids:
        assert wait_group_gone(pgid) == [], f"process group {pgid} survived Ctrl-C"
    resumed = launcher_cli(repo, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert {t["state"] for t in json.loads(resumed.stdout)["tasks"]} == {"merged"}


def test_ctrl_c_of_a_json_run_still_prints_its_report_with_status_interrupted(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", [{"id": "slow", "script": [{"sleep": 30}]}])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(plan), "--json"],
                            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = repo / ".launcher" / "launcher.db"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if db.exists() and sqlite3.connect(db).execute(
                    "SELECT count(*) FROM tasks WHERE agent_pgid IS NOT NULL").fetchone()[0] == 1:
                break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    report = json.loads(out)  # one report, as any --json run ends with
    assert report["status"] == "interrupted"
    assert [t["id"] for t in report["tasks"]] == ["slow"]
    assert f"`launcher resume {report['run_id']}` continues" in err  # this run, not whichever is latest


@pytest.mark.parametrize("flags", [["-q"], ["--json"]])
def test_a_reader_that_stops_early_leaves_the_exit_code_the_runs(repo: Path, tmp_path: Path,
                                                                  flags: list[str]) -> None:
    # `launcher run plan -q | head -1`: the run goes on and lands; its exit code says so (0),
    # not 1, which says a task failed.
    plan = write_plan(tmp_path / "plan.json", [
        {"id": "a", "script": [{"write": "a.txt", "content": "a"}]},
        {"id": "b", "script": [{"sleep": 1}, {"write": "b.txt", "content": "b"}]},
    ])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    read, write = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(plan), *flags], cwd=repo, env=env,
                            stdout=write, stderr=subprocess.PIPE, text=True)
    os.close(write)
    if flags == ["-q"]:
        assert os.read(read, 1)  # the first line has begun: the reader goes away
    os.close(read)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert (repo / "a.txt").exists() and (repo / "b.txt").exists()


def test_gate_grade_record_lessons_and_agents(repo: Path, tmp_path: Path) -> None:
    verdict = {"verdict": "satisfied", "criterion_results": [
        {"criterion": "C1", "pass": True, "justification": "does it"}],
        "required_fixes": [], "iteration": 1, "rubric_version": "1"}
    good = tmp_path / "verdict.json"
    good.write_text(json.dumps(verdict))
    ok = launcher_cli(repo, "gate", "grade-record", "--file", str(good))
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**verdict, "verdict": "great"}))
    invalid = launcher_cli(repo, "gate", "grade-record", "--file", str(bad))
    assert invalid.returncode == 1
    assert json.loads(invalid.stdout)["error_key"] == "verdict_invalid_enum"

    first = launcher_cli(repo, "lessons", "add", "Always run the migrations first.")
    again = launcher_cli(repo, "lessons", "add", "always run the migrations first")
    assert first.returncode == 0 and "added" in first.stdout and "already" in again.stdout
    assert (repo / "LESSONS.md").read_text().count("migrations") == 1

    listed = launcher_cli(repo, "agents", "--json", env={"PATH": "/usr/bin:/bin"})
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["scripted"]["found"] is True
    assert rows["claude"]["found"] is False and "npm install" in rows["claude"]["install_hint"]


def test_choose_approve_lands_an_escalated_task(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"grader": "judge", "iteration_cap": 1},
        "agents": {"judge": {"adapter": "scripted-grader",
                             "set_env": {"LAUNCHER_GRADER_MODE": "always_revise"}}},
        "task": [{"id": "t", "script": [{"write": "t.txt", "content": "t"}]}],
    }))
    first = launcher_cli(repo, "run", str(plan), "--json")
    assert first.returncode == 1
    report = json.loads(first.stdout)
    assert report["tasks"][0]["state"] == "escalated"
    wrong = launcher_cli(repo, "choose", report["run_id"], "t", "maybe")
    assert wrong.returncode == 2
    chosen = launcher_cli(repo, "choose", report["run_id"], "t", "approve", "--note", "ok", "--json")
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["tasks"][0]["state"] == "merged"
    assert (repo / "t.txt").exists()
    not_escalated = launcher_cli(repo, "choose", report["run_id"], "t", "defer")
    assert not_escalated.returncode == 2 and "not escalated" in not_escalated.stderr


def test_logs_follow_prints_as_the_agent_writes_and_stops_when_it_finishes(
    repo: Path, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path / "plan.json", [{"id": "talker", "script": [
        {"say": "first line"}, {"sleep": 1.0}, {"say": "second line"},
        {"write": "t.txt", "content": "t"}]}])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    runner = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(plan), "--quiet"],
                              cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = repo / ".launcher" / "launcher.db"
    deadline = time.monotonic() + 20
    run_id = None
    while time.monotonic() < deadline and run_id is None:
        try:
            row = sqlite3.connect(db).execute("SELECT id FROM runs").fetchone() if db.exists() else None
            run_id = row[0] if row else None
        except sqlite3.OperationalError:
            pass
        time.sleep(0.05)
    assert run_id
    followed = launcher_cli(repo, "logs", run_id, "talker", "-f", timeout=60)
    runner.wait(timeout=60)
    assert followed.returncode == 0
    assert "first line" in followed.stdout and "second line" in followed.stdout


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_cli_is_still_loading_stops_it_quietly(signame: str) -> None:
    # Loading the CLI takes a few tenths of a second; a Ctrl-C then used to end in an import
    # traceback. The entry point's early handler says nothing was done and exits 130.
    code = ("from launcher.cli import entry; entry.install_early_handlers()\n"
            f"import os, signal, time; os.kill(os.getpid(), signal.{signame}); time.sleep(10)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 130
    assert "while starting; nothing was done" in done.stderr and "Traceback" not in done.stderr
