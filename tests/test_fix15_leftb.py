"""Fix15 left-alone defects (workflows, queue, agents, run claims), each stated as what must be true."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import write_files
from helpers import git, launcher_cli, run_plan, start_launcher, wait_for_file

from launcher import process_identity
from launcher.app.report import effective_status
from launcher.models.report import TaskReport
from launcher.store import queue_log
from launcher.store.journal import Journal
from launcher.store.run_claim import held_by_other, holder_gone

# --- 2. run claims: a dead launcher's pid now given to this process ----------------------------

def _claimed_by_a_dead_launcher_with_our_pid(repo: Path) -> str:
    """A real run, whose row then says: running, driven by a launcher with this process's pid but
    another start time (the launcher was killed and the kernel gave its pid to this process)."""
    report = run_plan(repo, [{"id": "t", "script": [{"write": "t.txt", "content": "t\n"}]}], merge=False)
    started = process_identity.start_time(os.getpid())
    assert started is not None
    with sqlite3.connect(repo / ".launcher" / "launcher.db") as db:
        db.execute("UPDATE runs SET status='running', prior_status=NULL, launcher_pid=?, launcher_started=? "
                   "WHERE id=?", (os.getpid(), started - 1000, report.run_id))
    return report.run_id


def test_a_claim_naming_this_process_pid_with_another_start_time_is_a_dead_launchers(repo: Path) -> None:
    run_id = _claimed_by_a_dead_launcher_with_our_pid(repo)
    run = Journal(repo / ".launcher" / "launcher.db").run(run_id)
    assert holder_gone(run.launcher_pid, run.launcher_started)
    assert not held_by_other(run.launcher_pid, run.launcher_started)
    status, message = effective_status(run)
    assert status == "interrupted", (status, message)
    assert f"launcher resume {run_id}" in message


def test_this_process_own_live_claim_is_neither_gone_nor_another_launchers(repo: Path) -> None:
    run_id = _claimed_by_a_dead_launcher_with_our_pid(repo)
    # The dead claim is taken over, not refused.
    claim = Journal(repo / ".launcher" / "launcher.db").claim_run(run_id, "resume")
    assert claim.pid == os.getpid() and claim.started == process_identity.start_time(os.getpid())
    assert not holder_gone(claim.pid, claim.started) and not held_by_other(claim.pid, claim.started)
    run = Journal(repo / ".launcher" / "launcher.db").run(run_id)
    assert effective_status(run)[0] == "running"


# --- 4. agents: opencode's log lines on stderr are not progress -------------------------------

_OPENCODE_RETRYING = r'''#!/usr/bin/env python3
import sys, time
n = 0
while True:  # opencode stuck retrying: an ERROR line of its log on stderr, never an event on stdout
    n += 1
    print(f'timestamp=2026-12-07T05:51:39.703Z level=ERROR service=llm message="stream error" '
          f'error="AI_APICallError: rate limited, retrying ({n})"', file=sys.stderr, flush=True)
    time.sleep(0.3)
'''

_OPENCODE_WORKING = r'''#!/usr/bin/env python3
import json, sys, time
def event(kind, **part):
    print(json.dumps({"type": kind, "timestamp": 0, "sessionID": "ses_1", "part": part}), flush=True)
for n in range(12):  # 3.6 s of steady progress on stdout, nothing on stderr, no file change
    event("text", text=f"thinking {n}", messageID="m1")
    time.sleep(0.3)
event("text", text="done", messageID="m1")
'''


def _opencode_run(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> tuple[TaskReport, float]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "opencode").write_text(script)
    (bindir / "opencode").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    began = time.monotonic()
    report = run_plan(repo, [{"id": "t", "agent": "opencode", "prompt": "x", "timeout_s": 60}],
                      merge=False, inactivity_timeout_s=2)
    return report.tasks[0], time.monotonic() - began


def test_opencode_printing_only_error_log_lines_is_found_inactive(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task, took = _opencode_run(repo, tmp_path, monkeypatch, _OPENCODE_RETRYING)
    assert task.state == "timed_out", task.message
    assert "inactivity timeout" in task.message and "rate limited, retrying" in task.message
    assert took < 30  # not the 60 s wall-clock timeout


def test_opencode_printing_events_on_stdout_is_active(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task, _ = _opencode_run(repo, tmp_path, monkeypatch, _OPENCODE_WORKING)
    assert task.state != "timed_out" and "inactivity" not in (task.message or ""), task.message


# --- 3. queue: a withdrawn culprit verdict does not stay in facts.json --------------------------

def _check_that_moves_the_target_once(tmp_path: Path) -> Path:
    """An integration check whose first run lands a teammate's fix on `trunk` (the target moves
    under the pass); it fails on bad.txt unless that fix is in the tree."""
    mark, check = tmp_path / "moved", tmp_path / "check.sh"
    check.write_text(f"""set -e
if [ ! -f {mark} ]; then
  touch {mark}
  blob=$(echo fixed | git hash-object -w --stdin)
  tree=$( (git ls-tree trunk; printf '100644 blob %s\\tfixed.txt\\n' "$blob") | git mktree)
  git update-ref refs/heads/trunk "$(git -c user.name=x -c user.email=x@x commit-tree "$tree" -p trunk -m fix)"
fi
if [ -f bad.txt ] && [ ! -f fixed.txt ]; then echo "BROKEN by bad.txt"; exit 1; fi
""")
    return check


def test_a_culprit_judged_while_the_target_moved_is_not_blamed_in_its_facts(repo: Path, tmp_path: Path) -> None:
    git(repo, "branch", "trunk")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"into": "trunk", "integration_check": f"sh {_check_that_moves_the_target_once(tmp_path)}"},
        "task": [{"id": "good", "script": [{"write": "good.txt", "content": "g\n"}]},
                 {"id": "bad", "script": [{"write": "bad.txt", "content": "b\n"}]}]}))
    done = launcher_cli(repo, "run", str(plan), "--json")
    report = json.loads(done.stdout)
    assert {t["id"]: t["state"] for t in report["tasks"]} == {"good": "merged", "bad": "merged"}, done.stderr
    assert (tmp_path / "moved").exists()  # the pass that blamed `bad` was overtaken by the target
    log = queue_log.QueueLog(repo / ".launcher" / "launcher.db")
    try:
        kinds = [step["kind"] for step in log.steps(report["run_id"])]
    finally:
        log.close()
    assert queue_log.CULPRIT in kinds and queue_log.WITHDRAWN in kinds
    (facts_file,) = (repo / ".launcher" / "runs").glob("*/bad/facts.json")
    facts = json.loads(facts_file.read_text())
    assert "checks" in facts
    assert not [c for c in facts["checks"] if "integration check on" in str(c.get("command"))], facts["checks"]


def test_a_fold_whose_commits_are_pruned_during_its_checks_is_folded_again(repo: Path, tmp_path: Path) -> None:
    # The first check of a bisection step deletes refs/launcher/<run>/_integration/fold (the pin
    # of the fold's commits) and prunes: the later commits of the fold are gone.
    git(repo, "branch", "trunk")
    mark, check = tmp_path / "pruned", tmp_path / "check.sh"
    check.write_text(f"""
if [ ! -f bad.txt ] && [ ! -f {mark} ]; then
  touch {mark}
  git for-each-ref --format='%(refname)' refs/launcher/ | grep '/_integration/fold$' | xargs -n1 git update-ref -d
  git reflog expire --expire=now --all
  git -c gc.auto=0 gc --prune=now -q
fi
if [ -f bad.txt ]; then echo "BROKEN by bad.txt"; exit 1; fi
""")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"into": "trunk", "integration_check": f"sh {check}"},
        "task": [{"id": n, "script": [{"write": f"{n}.txt", "content": f"{n}\n"}]} for n in ("a", "b")]
                + [{"id": "c", "script": [{"write": "bad.txt", "content": "c\n"}]},
                   {"id": "d", "script": [{"write": "d.txt", "content": "d\n"}]}]}))
    done = launcher_cli(repo, "run", str(plan), "--json")
    assert mark.exists(), done.stderr
    assert "Traceback" not in done.stderr
    assert "of the landing's fold is gone" in done.stderr and "folding the approved work again" in done.stderr
    report = json.loads(done.stdout)
    states = {t["id"]: t["state"] for t in report["tasks"]}
    assert states["a"] == states["b"] == states["d"] == "merged", (states, done.stderr[-2000:])
    assert states["c"] != "merged"
    landed = git(repo, "ls-tree", "--name-only", "trunk").split()
    assert {"a.txt", "b.txt", "d.txt"} <= set(landed) and "bad.txt" not in landed


# --- 1. workflows -----------------------------------------------------------------------------

PAIR = '''name = "pair"
[[phase]]
id = "build"
artifacts = ["build/files.json"]
[[phase.primary]]
role = "a"
prompt = "change add"
[[phase.primary]]
role = "b"
prompt = "change add too"
'''

TWO = '''name = "two"
[[phase]]
id = "build"
artifacts = ["build/files.json"]
[[phase.primary]]
role = "a"
prompt = "build"
[[phase]]
id = "after"
artifacts = ["after/log.md"]
[[phase.primary]]
role = "x"
prompt = "go on from {artifacts}"
'''


@pytest.fixture
def wf(repo: Path) -> Path:
    write_files(repo, {"workflows/pair.toml": PAIR, "workflows/two.toml": TWO,
                       "launcher.toml": '[roles]\ndefault = "scripted"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "workflows")
    return repo


def _wf(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    quiet = ["--quiet"] if args[0] in ("start", "next", "resume") else []
    done = launcher_cli(repo, "workflow", *args, "--json", *quiet)
    return done.returncode, json.loads(done.stdout)


def _start(repo: Path, name: str, scripts: dict[str, Any]) -> dict[str, Any]:
    path = repo.parent / f"scripts-{name}.json"
    path.write_text(json.dumps(scripts))
    return _wf(repo, "start", name, "--scripts", str(path))[1]


def test_cancel_during_a_partial_retry_keeps_the_task_that_landed_in_the_earlier_run(wf: Path, tmp_path: Path) -> None:
    armed, started, release = tmp_path / "armed", tmp_path / "started", tmp_path / "release"
    wait = (f"import os, time\nif os.path.exists({str(armed)!r}):\n    open({str(started)!r}, 'w').close()\n"
            f"    [time.sleep(0.1) for _ in range(600) if not os.path.exists({str(release)!r})]")
    first = _start(wf, "pair", {
        "build-a": [{"replace": "app.py", "old": "a + b", "new": "a + b + 0"}],
        "build-b": [{"run": [sys.executable, "-c", wait]}, {"replace": "app.py", "old": "a - b", "new": "0 + a - b"},
                    {"replace": "app.py", "old": "a + b", "new": "b + a"}]})
    tasks = {t["id"]: t["state"] for t in first["phases"][0]["tasks"]}
    assert first["status"] == "paused" and tasks == {"build-a": "merged", "build-b": "conflicted"}, first
    armed.touch()  # the retry of build-b waits, so the cancel comes while it runs
    runner = start_launcher(wf, "workflow", "resume", first["id"], "--retry-failed", "--quiet")
    try:
        wait_for_file(started, runner)
        code, cancelled = _wf(wf, "cancel", first["id"])
    finally:
        release.touch()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(runner.pid, signal.SIGKILL)
        runner.communicate()
    assert code == 0 and cancelled["status"] == "cancelled", cancelled
    rows = {t["id"]: (t["state"], t["merged"]) for t in cancelled["phases"][0]["tasks"]}
    assert rows == {"build-a": ("merged", True), "build-b": ("cancelled", False)}, rows
    assert "a + b + 0" in (wf / "app.py").read_text()  # build-a's work stays on the target


def test_retrying_a_failed_phase_is_refused_while_an_earlier_phase_work_is_off_the_target(
        wf: Path, tmp_path: Path) -> None:
    failing = tmp_path / "after-fails"
    failing.touch()
    state = _start(wf, "two", {
        "build-a": [{"write": "a.txt", "content": "1\n"}],
        "after-x": [{"run": [sys.executable, "-c", f"import os, sys; sys.exit(3 if os.path.exists({str(failing)!r}) "
                                                   "else 0)"]}, {"write": "x.txt", "content": "1\n"}]})
    _, state = _wf(wf, "next", state["id"])
    assert state["status"] == "paused" and state["paused_on"] == "after", state
    landed = state["phases"][0]["landed_sha"]
    git(wf, "reset", "-q", "--hard", state["base_sha"])  # build's work leaves the target
    failing.unlink()
    code, refused = _wf(wf, "resume", state["id"], "--retry-failed")
    assert code == 2 and refused["error_key"] == "workflow_lost_work", refused
    assert "phase build" in refused["observations"] and f"git merge {landed[:12]}" in refused["usage"]
    assert not (wf / "x.txt").exists() and git(wf, "rev-parse", "main").strip() == state["base_sha"]
    _, still = _wf(wf, "status", state["id"])
    assert still["status"] == "paused" and still["paused_on"] == "after", still  # as it was
    git(wf, "merge", "-q", "--ff-only", landed)  # put back: the retry runs
    code, done = _wf(wf, "resume", state["id"], "--retry-failed")
    assert code == 0 and done["status"] == "completed", done


def test_a_rewrite_of_the_target_that_keeps_a_phase_work_does_not_pause_the_workflow(wf: Path) -> None:
    git(wf, "commit", "-q", "--allow-empty", "-m", "a commit of the user's")
    state = _start(wf, "two", {"build-a": [{"write": "a.txt", "content": "1\n"}],
                               "after-x": [{"write": "x.txt", "content": "1\n"}]})
    assert state["status"] == "ready", state
    assert state["phases"][0]["tasks"][0]["commit"]  # the landed task's commit is recorded
    landed = state["phases"][0]["landed_sha"]
    # The user squashes main's history into one commit: the same tree, none of the old commits.
    squashed = git(wf, "commit-tree", git(wf, "rev-parse", "main^{tree}").strip(), "-m", "squashed").strip()
    git(wf, "reset", "-q", "--soft", squashed)
    assert subprocess.run(["git", "merge-base", "--is-ancestor", landed, "main"], cwd=wf).returncode == 1
    code, done = _wf(wf, "next", state["id"])
    assert code == 0 and done["status"] == "completed", done
    assert (wf / "a.txt").exists() and (wf / "x.txt").exists()


def test_a_reset_that_takes_a_phase_work_away_still_pauses_the_workflow(wf: Path) -> None:
    state = _start(wf, "two", {"build-a": [{"write": "a.txt", "content": "1\n"}],
                               "after-x": [{"write": "x.txt", "content": "1\n"}]})
    git(wf, "reset", "-q", "--hard", state["base_sha"])
    git(wf, "commit", "-q", "--allow-empty", "-m", "the user's own work")  # main moves on, without build's
    _, paused = _wf(wf, "next", state["id"])
    assert paused["status"] == "paused" and "phase build" in paused["message"], paused
    assert not (wf / "x.txt").exists()
