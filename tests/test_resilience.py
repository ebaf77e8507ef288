"""Agents that hang, flood or die, a launcher killed with -9, and many tasks at once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import git, launcher_cli, resume, run_plan, task, wait_group_gone

from launcher.engine.orphans import run_processes
from launcher.models.states import RunStatus


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False


def test_hanging_agent_is_killed_at_its_timeout_with_its_grandchildren(repo: Path) -> None:
    started = time.monotonic()
    report = run_plan(repo, [{"id": "hang", "timeout_s": 1.5, "script": [
        {"write": "partial.txt", "content": "p"}, {"spawn_sleeper": 120}, {"sleep": 120},
    ]}])
    assert time.monotonic() - started < 30
    hang = task(report, "hang")
    assert hang.state == "timed_out" and "timeout" in hang.message
    log = (Path(report.artifacts) / "hang" / "agent.log").read_text()
    grandchild = int(re.search(r"spawned (\d+)", log).group(1))  # type: ignore[union-attr]
    assert not _alive(grandchild)
    import sqlite3

    db = sqlite3.connect(repo / ".launcher" / "launcher.db")
    (pgid,) = db.execute("SELECT agent_pgid FROM tasks WHERE task_id='hang'").fetchone()
    assert wait_group_gone(pgid) == []
    # The partial work is committed on the kept branch, not lost.
    assert hang.branch and "partial.txt" in git(repo, "ls-tree", "--name-only", hang.branch)


def test_stalled_agent_is_killed_at_the_inactivity_timeout(repo: Path) -> None:
    report = run_plan(repo, [{"id": "quiet", "inactivity_timeout_s": 1.0,
                              "script": [{"say": "thinking"}, {"sleep": 60}]}])
    quiet = task(report, "quiet")
    assert quiet.state == "timed_out" and "stalled" in quiet.message


def test_flooding_agent_leaves_a_capped_log_and_bounded_memory(repo: Path, tmp_path: Path) -> None:
    (repo / "launcher.toml").write_text("log_cap_mb = 1\n")
    git(repo, "add", "launcher.toml")
    git(repo, "commit", "-qm", "config")
    driver = tmp_path / "drive.py"
    driver.write_text(
        "import anyio, json, resource, sys\n"
        "from pathlib import Path\n"
        "from launcher.app.run.runner import RunOptions, start_run\n"
        "from launcher.models.plan import validate_plan\n"
        "plan = validate_plan({'task': [{'id': 'flood', 'script': [{'flood_mb': 200},"
        " {'write': 'f.txt', 'content': 'f'}]}]}, 'p')\n"
        "report = anyio.run(start_run, Path(sys.argv[1]), plan, RunOptions(), lambda e: None)\n"
        "print(json.dumps({'state': report.tasks[0].state,"
        " 'rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
        " 'artifacts': report.artifacts}))\n"
    )
    baseline = subprocess.run(
        [sys.executable, "-c", "import resource, launcher.app.run.runner;"
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
        capture_output=True, text=True, check=True,
    )
    done = subprocess.run([sys.executable, str(driver), str(repo)], capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["state"] == "merged"
    log = Path(result["artifacts"]) / "flood" / "agent.log"
    size = log.stat().st_size
    assert size < 1.2 * 1024 * 1024
    text = log.read_bytes()
    assert b"bytes elided from the middle of this log" in text
    assert text.rstrip().endswith(b"1 edit(s)")  # the tail survives
    growth_mb = (result["rss_kb"] - int(baseline.stdout)) / 1024
    assert growth_mb < 60, f"launcher grew by {growth_mb:.0f} MB while the agent printed 200 MB"


def test_hostile_task_id_is_rejected_before_anything_touches_disk(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text('[[task]]\nid = "../../etc"\nprompt = "x"\n')
    done = launcher_cli(repo, "run", str(plan), "--json")
    assert done.returncode == 2
    envelope = json.loads(done.stdout)
    assert envelope["ok"] is False and envelope["error_key"].startswith("plan_invalid")
    assert "../../etc" in envelope["observations"] and "task[0]" in envelope["observations"]
    assert not (repo / ".launcher").exists()
    assert not (tmp_path / "cache" / "launcher").exists()
    assert git(repo, "status", "--porcelain") == ""


def _write_plan(path: Path, tasks: list[dict[str, object]], **run: object) -> Path:
    path.write_text(json.dumps({"run": run, "task": tasks}))
    return path


def test_kill_9_mid_run_then_resume_lands_every_task_exactly_once(repo: Path, tmp_path: Path) -> None:
    tasks = [
        {"id": f"t{n}", "script": [{"write": f"file{n}.txt", "content": f"{n}\n"},
                                   {"spawn_sleeper": 30}, {"sleep": 1.5 + n * 0.3}]}
        for n in range(4)
    ]
    tasks.append({"id": "after", "depends_on": ["t0"],
                  "script": [{"write": "after.txt", "content": "a\n"}]})
    plan = _write_plan(tmp_path / "plan.json", tasks, max_parallel=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(plan), "--quiet"],
                            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    db = repo / ".launcher" / "launcher.db"
    deadline = time.monotonic() + 30
    import sqlite3

    while time.monotonic() < deadline:  # wait until agents are running
        if db.exists():
            try:
                rows = sqlite3.connect(db).execute(
                    "SELECT count(*) FROM tasks WHERE state='running' AND agent_pgid IS NOT NULL"
                ).fetchone()
                if rows[0] >= 3:
                    break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("agents never started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (run_id,) = sqlite3.connect(db).execute("SELECT id FROM runs").fetchone()
    pgids = {r[0] for r in sqlite3.connect(db).execute(
        "SELECT agent_pgid FROM tasks WHERE agent_pgid IS NOT NULL")}
    assert run_processes(run_id, pgids), "the dead launcher's agents should still be running"

    report = resume(repo, run_id)
    assert report.status == RunStatus.SUCCEEDED, [(t.id, t.state, t.message) for t in report.tasks]
    assert all(t.state == "merged" for t in report.tasks)
    trailers = git(repo, "log", "--merges", "--format=%(trailers:key=Launcher-Task,valueonly)", "main")
    landed = [line for line in trailers.splitlines() if line.strip()]
    assert sorted(landed) == sorted(t["id"] for t in tasks)  # each exactly once
    for n in range(4):
        assert (repo / f"file{n}.txt").read_text() == f"{n}\n"
    assert run_processes(run_id, pgids) == []
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(repo, "branch", "--list", "launcher/*").strip() == ""
    # Resuming again changes nothing: done stays done.
    again = resume(repo, run_id)
    assert again.status == RunStatus.SUCCEEDED
    assert git(repo, "log", "--merges", "--oneline", "main").count("\n") == len(tasks)


def test_32_tasks_at_max_parallel_8(repo: Path) -> None:
    tasks = [{"id": f"task-{n:02d}", "script": [{"write": f"out/{n}.txt", "content": f"{n}\n"}]}
             for n in range(32)]
    report = run_plan(repo, tasks, max_parallel=8)
    assert report.status == RunStatus.SUCCEEDED
    assert [t.state for t in report.tasks] == ["merged"] * 32
    assert len(list((repo / "out").iterdir())) == 32
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(repo, "branch", "--list", "launcher/*").strip() == ""


def test_include_copied_secret_committed_by_the_agent_is_refused_at_merge(repo: Path) -> None:
    (repo / ".worktreeinclude").write_text(".env\n")
    git(repo, "add", ".worktreeinclude")
    git(repo, "commit", "-qm", "include")
    (repo / ".env").write_text("TOKEN=s3cret\n")
    report = run_plan(repo, [
        {"id": "leaky", "script": [{"append": ".env", "content": "MORE=1\n"},
                                   {"run": ["git", "add", "-f", ".env"]},
                                   {"write": "x.txt", "content": "x"}]},
        {"id": "reader", "checks": ["grep -q TOKEN .env"],
         "script": [{"write": "y.txt", "content": "y"}]},
    ])
    # The copied secret is present in each worktree (the check reads it), yet never committed
    # by the launcher; the branch whose agent committed it is refused at merge.
    reader, leaky = task(report, "reader"), task(report, "leaky")
    assert reader.state == "merged"
    assert leaky.state == "failed" and ".env" in leaky.message and "refused" in leaky.message
    assert ".env" in git(repo, "ls-tree", "-r", "--name-only", leaky.branch or "")
    assert ".env" not in git(repo, "ls-tree", "-r", "--name-only", "main")
    assert (repo / ".env").read_text() == "TOKEN=s3cret\n"


def test_branch_changed_after_approval_withdraws_the_approval(repo: Path) -> None:
    report = run_plan(repo, [{"id": "t", "script": [{"write": "t.txt", "content": "t"}]}], merge=False)
    approved = task(report, "t")
    assert approved.state == "approved"
    worktree = Path(approved.worktree or "")
    (worktree / "sneaky.txt").write_text("added after approval\n")
    git(worktree, "add", "sneaky.txt")
    git(worktree, "commit", "-qm", "sneak")
    import sqlite3

    db = sqlite3.connect(repo / ".launcher" / "launcher.db")
    db.execute("UPDATE runs SET settings_json='{\"merge\": true}'")
    db.commit()
    landed = resume(repo, report.run_id)
    withdrawn = task(landed, "t")
    assert withdrawn.state == "blocked" and "approval withdrawn" in withdrawn.message
    assert "sneaky.txt" not in git(repo, "ls-tree", "-r", "--name-only", "main")


def test_an_agent_editing_files_without_printing_is_not_stalled(repo: Path) -> None:
    writes = [step for n in range(6) for step in (
        {"write": f"w{n}.txt", "content": str(n)}, {"sleep": 0.4})]
    report = run_plan(repo, [{"id": "busy", "inactivity_timeout_s": 1.5, "script": writes}])
    assert task(report, "busy").state == "merged"
