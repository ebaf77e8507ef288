"""What a workflow says about itself is true (fix14, workflow state): a review that rejects the work
does not complete the workflow; a skipped last phase leaves no stale failure text; a target branch
that is gone, or that lost a succeeded phase's work, is said as such; a checkpoint never erases
why a workflow ended or paused; a dead runner is never taken for this process; a runner that
died mid-phase ends a client's poll; a conflicted task's retry really runs it again. Real
repositories, scripted agents, the real CLI."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from launcher import process_identity
from launcher.app.workflow import engine
from launcher.cli.mcp_server import TOOL_DESCRIPTION
from launcher.models.workflow import WorkflowState, WorkflowStatus
from tests.conftest import git, write_files
from tests.helpers import launcher_cli, start_launcher, wait_for_file

ONE = '''name = "one"
[[phase]]
id = "build"
artifacts = ["build/files.json"]
[[phase.primary]]
role = "a"
prompt = "build"
'''

TWO = ONE.replace('name = "one"', 'name = "two"') + '''[[phase]]
id = "after"
artifacts = ["after/log.md"]
[[phase.primary]]
role = "x"
prompt = "go on from {artifacts}"
'''

REVIEW = '''name = "rev"
[[phase]]
id = "review"
artifacts = [{ path = "review/security.md", role = "security-expert" }]
[[phase.primary]]
role = "security-expert"
prompt = "review it"
'''

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


@pytest.fixture
def wf(repo: Path) -> Path:
    write_files(repo, {"workflows/one.toml": ONE, "workflows/two.toml": TWO, "workflows/rev.toml": REVIEW,
                       "workflows/pair.toml": PAIR, "launcher.toml": '[roles]\ndefault = "scripted"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "workflows")
    return repo


def _wf(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    quiet = ["--quiet"] if args[0] in ("start", "next", "resume") else []
    done = launcher_cli(repo, "workflow", *args, "--json", *quiet)
    return done.returncode, json.loads(done.stdout)


def _start(repo: Path, name: str, scripts: dict[str, Any], *more: str) -> tuple[int, dict[str, Any]]:
    path = repo.parent / f"scripts-{name}.json"
    path.write_text(json.dumps(scripts))
    return _wf(repo, "start", name, "--scripts", str(path), *more)


def _counting(marker: Path) -> dict[str, Any]:
    return {"run": [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('run\\n')"]}


def _runs(marker: Path) -> int:
    return len(marker.read_text().split()) if marker.exists() else 0


REJECTING = {"contract": {"status": "done", "approved": False, "qa_status": "rejected",
                          "issues_found": ["SQL injection in login()"],
                          "must_fix": ["app.py:1 - parameterise the query (SEC-1)"]}}


def test_a_review_that_rejects_the_work_fails_its_phase_and_says_what_must_be_fixed(wf: Path) -> None:
    runs = wf.parent / "reviews"
    code, state = _start(wf, "rev", {"review-security-expert": [
        _counting(runs), {"write": "docs/review-security.md", "content": "# Security review\n"}, REJECTING]})
    phase = state["phases"][0]
    assert code == 1 and state["status"] == "paused" and phase["status"] == "failed", state
    assert not state["done"] if "done" in state else True
    assert "the review rejected the work" in state["message"] and "parameterise the query" in state["message"]
    assert f"launcher workflow resume {state['id']} --retry-failed" in state["offers"]
    task = phase["tasks"][0]
    assert task["approved"] is False and task["must_fix"] == ["app.py:1 - parameterise the query (SEC-1)"]
    folder = wf / ".launcher" / "workflows" / state["id"]
    doc = (folder / "review" / "security.md").read_text()
    assert "Verdict: rejected (qa_status: rejected)" in doc and "parameterise the query (SEC-1)" in doc
    assert "SQL injection in login()" in doc
    assert "parameterise the query" in json.loads((folder / "review" / "error.json").read_text())["error"]
    # the offered retry runs the reviewer again (a new run: the last one has nothing to retry)
    code, again = _wf(wf, "resume", state["id"], "--retry-failed")
    assert _runs(runs) == 2 and code == 1 and again["status"] == "paused", again
    assert again["phases"][0]["run_id"] != phase["run_id"]


def test_a_review_that_approves_completes_the_workflow_with_its_verdict_in_the_document(wf: Path) -> None:
    code, state = _start(wf, "rev", {"review-security-expert": [
        {"write": "docs/review-security.md", "content": "# Security review\n"},
        {"contract": {"status": "done", "approved": True, "qa_status": "approved"}}]})
    assert code == 0 and state["status"] == "completed" and state["message"] == "every phase finished", state
    doc = (wf / ".launcher" / "workflows" / state["id"] / "review" / "security.md").read_text()
    assert "Verdict: approved" in doc


def test_skipping_the_failed_last_phase_completes_naming_it_and_offers_nothing_refused(wf: Path) -> None:
    code, state = _start(wf, "two", {"build-a": [{"write": "a.txt", "content": "1\n"}], "after-x": [{"exit": 3}]})
    code, state = _wf(wf, "next", state["id"])
    assert code == 1 and state["status"] == "paused" and state["paused_on"] == "after", state
    code, done = _wf(wf, "next", state["id"], "--skip")
    assert code == 0 and done["status"] == "completed", done
    assert done["message"] == "every phase finished; skipped: after (its work is not on main)"
    assert "retry" not in done["message"] and done["offers"] == []


def test_a_renamed_target_branch_is_refused_naming_the_workflow_and_the_way_on(wf: Path) -> None:
    code, state = _start(wf, "one", {"build-a": [{"write": "a.txt", "content": "1\n"}]}, "--no-run")
    git(wf, "branch", "-m", "main", "trunk")
    code, refused = _wf(wf, "next", state["id"])
    assert code == 2 and refused["error_key"] == "workflow_target_missing", refused
    assert f"workflow {state['id']}'s target branch main no longer exists" in refused["observations"]
    assert f"git branch main {state['base_sha'][:12]}" in refused["usage"]
    assert f"launcher workflow cancel {state['id']}" in refused["usage"]
    code, now = _wf(wf, "status", state["id"])
    assert now["status"] == "ready" and now["phases"][0]["status"] == "pending", now  # nothing changed
    git(wf, "branch", "-m", "trunk", "main")
    code, ran = _wf(wf, "next", state["id"])
    assert code == 0 and ran["status"] == "completed", ran


def test_a_succeeded_phase_whose_work_left_the_target_pauses_the_workflow_until_it_is_back(wf: Path) -> None:
    code, first = _start(wf, "two", {"build-a": [{"write": "a.txt", "content": "1\n"}],
                                     "after-x": [{"write": "x.txt", "content": "1\n"}]})
    assert code == 0 and first["status"] == "ready", first
    landed = first["phases"][0]["landed_sha"]
    git(wf, "reset", "-q", "--hard", first["base_sha"])
    code, paused = _wf(wf, "next", first["id"])
    assert paused["status"] == "paused" and paused["phases"][1]["status"] == "pending", paused
    assert "phase build" in paused["message"] and f"git merge {landed[:12]}" in paused["message"]
    assert f"launcher workflow resume {first['id']}" in paused["offers"]
    git(wf, "merge", "-q", "--ff-only", landed)
    assert _wf(wf, "resume", first["id"])[1]["status"] == "ready"
    code, done = _wf(wf, "next", first["id"])
    assert code == 0 and done["status"] == "completed", done
    assert (wf / "a.txt").exists() and (wf / "x.txt").exists()


def test_a_workflow_whose_earlier_work_left_the_target_is_not_completed_by_skipping_its_last_phase(
        wf: Path) -> None:
    _, state = _start(wf, "two", {"build-a": [{"write": "a.txt", "content": "1\n"}], "after-x": [{"exit": 3}]})
    _, state = _wf(wf, "next", state["id"])
    assert state["status"] == "paused" and state["paused_on"] == "after", state
    git(wf, "reset", "-q", "--hard", state["base_sha"])
    _, skipped = _wf(wf, "next", state["id"], "--skip")
    assert skipped["status"] == "paused" and "phase build" in skipped["message"], skipped
    assert [p["status"] for p in skipped["phases"]] == ["succeeded", "skipped"]


def test_a_checkpoint_on_an_ended_or_failed_workflow_is_refused_and_keeps_its_message(wf: Path) -> None:
    code, state = _start(wf, "one", {"build-a": [{"write": "a.txt", "content": "1\n"}, {"exit": 1}]})
    assert state["status"] == "paused" and state["paused_on"] == "build", state
    failed_message = state["message"]
    code, refused = _wf(wf, "checkpoint", state["id"], "--signal", "x")
    assert code == 2 and refused["error_key"] == "workflow_paused", refused
    assert _wf(wf, "status", state["id"])[1]["message"] == failed_message
    code, cancelled = _wf(wf, "cancel", state["id"])
    assert cancelled["status"] == "cancelled" and "kept branch" in cancelled["message"], cancelled
    code, refused = _wf(wf, "checkpoint", state["id"], "--signal", "oops")
    assert code == 2 and refused["error_key"] == "workflow_cancelled", refused
    assert "already ended" in refused["observations"]
    after = _wf(wf, "status", state["id"])[1]
    assert after["message"] == cancelled["message"] and after["checkpoints"] == []


def test_a_recorded_runner_with_this_process_pid_but_another_start_time_is_dead() -> None:
    me, started = os.getpid(), process_identity.start_time(os.getpid())
    assert started is not None
    ours = WorkflowState(id="wf_000000000000", template="t", status=WorkflowStatus.RUNNING,
                         runner_pid=me, runner_started=started)
    assert engine.runner_alive(ours)
    reused = ours.model_copy(update={"runner_started": started - 1})  # a dead runner that had our pid
    assert not engine.runner_alive(reused)


def test_a_runner_killed_mid_phase_is_interrupted_which_ends_a_poll(wf: Path, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    wait = (f"import os, time; open({str(started)!r}, 'w').close(); "
            f"[time.sleep(0.1) for _ in range(600) if not os.path.exists({str(release)!r})]")
    code, state = _start(wf, "one", {"build-a": [{"run": [sys.executable, "-c", wait]},
                                                   {"write": "a.txt", "content": "1\n"}]}, "--no-run")
    runner = start_launcher(wf, "workflow", "next", state["id"], "--quiet")
    try:
        wait_for_file(started, runner)
    finally:
        os.killpg(runner.pid, signal.SIGKILL)
        runner.communicate()
        release.touch()
    code, seen = _wf(wf, "status", state["id"])
    # the poll rule: go on while busy (a runner at work); interrupted is not
    assert seen["status"] == "interrupted" and seen["interrupted"] is True and seen["done"] is False, seen
    assert seen["busy"] is False
    assert seen["offers"][0] == f"launcher workflow resume {state['id']}"
    assert "interrupted" in TOOL_DESCRIPTION and "done" in TOOL_DESCRIPTION
    code, resumed = _wf(wf, "resume", state["id"])
    assert code == 0 and resumed["status"] == "completed", resumed


def test_retrying_a_phase_with_a_conflicted_task_runs_only_that_task_again_from_the_new_tip(wf: Path) -> None:
    runs_a, runs_b = wf.parent / "a-runs", wf.parent / "b-runs"
    code, first = _start(wf, "pair", {
        "build-a": [_counting(runs_a), {"replace": "app.py", "old": "a + b", "new": "a + b + 0"}],
        "build-b": [_counting(runs_b), {"replace": "app.py", "old": "a - b", "new": "0 + a - b"},
                    {"replace": "app.py", "old": "a + b", "new": "b + a"}]})
    tasks = {t["id"]: t["state"] for t in first["phases"][0]["tasks"]}
    assert first["status"] == "paused" and sorted(tasks.values()) == ["conflicted", "merged"], first
    code, after = _wf(wf, "resume", first["id"], "--retry-failed")
    assert code == 0 and after["status"] == "completed", after
    assert _runs(runs_a) + _runs(runs_b) == 3  # the conflicted one ran again, the landed one did not
    assert {t["id"]: t["merged"] for t in after["phases"][0]["tasks"]} == {"build-a": True, "build-b": True}
    files = json.loads((wf / ".launcher" / "workflows" / first["id"] / "build" / "files.json").read_text())
    assert [f["path"] for f in files["files"]] == ["app.py"] and files["from"] == first["base_sha"]
