"""Best-of-N tasks tell the truth about which attempt landed, and its dependents carry only it.

Real git repositories, the scripted agent and grader run as real subprocesses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
from helpers import git, launcher_cli, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport

ATTEMPT_1_BAD = ("if [ $LAUNCHER_BEST_OF_ATTEMPT = 1 ]; then printf 'bad\\n' > bad.txt; "
                 "else printf 'good\\n' > good.txt; fi")


def run_plan_dict(repo: Path, plan: dict[str, Any], **options: Any) -> RunReport:
    return anyio.run(start_run, repo, validate_plan(plan, "test plan"), RunOptions(**options), lambda _e: None)


def main_files(repo: Path) -> set[str]:
    return set(git(repo, "ls-tree", "--name-only", "main").split())


def not_selected_head(repo: Path, attempt: str) -> str:
    listed = git(repo, "for-each-ref", "--format=%(objectname)", f"refs/launcher/*/{attempt}/not-selected")
    return listed.strip()


def is_ancestor(repo: Path, commit: str, of: str) -> bool:
    return subprocess.run(["git", "merge-base", "--is-ancestor", commit, of], cwd=repo).returncode == 0


# 01: the selected attempt breaks the integration check, the runner-up lands as the task.
def test_a_dependent_of_a_best_of_task_lands_on_the_attempt_that_landed_not_the_rejected_one(repo: Path) -> None:
    report = run_plan_dict(repo, {
        "run": {"integration_check": "sh -c '! test -e bad.txt'"},
        "task": [
            {"id": "t", "attempts": 2, "script": [{"run": ["sh", "-c", ATTEMPT_1_BAD]}]},
            {"id": "u", "depends_on": ["t"], "script": [{"write": "u.txt", "content": "u\n"}]},
        ],
    })
    assert task(report, "t").state == "merged"
    u = task(report, "u")
    assert u.state == "merged" and u.merged, u.message  # not blamed for attempt 1's bad.txt
    assert u.files == ["u.txt"]
    assert report.status == "succeeded", report.message
    assert main_files(repo) >= {"good.txt", "u.txt"} and "bad.txt" not in main_files(repo)
    rejected = not_selected_head(repo, "t.attempt-1")
    assert rejected and not is_ancestor(repo, rejected, "main")  # attempt 1 never reaches main
    assert "u" not in (report.queue.culprits if report.queue else [])


# 04: the selected attempt conflicts at `launcher land`, the runner-up lands as the task.
def test_the_rejected_attempt_never_reaches_the_target_through_a_dependent(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"on_conflict": "agent"},
        "task": [
            {"id": "t", "attempts": 2, "script": [{"run": ["sh", "-c",
             "if [ $LAUNCHER_BEST_OF_ATTEMPT = 1 ]; then printf 'attempt one line\\n' >> README.md; "
             "else printf 'two\\n' > two.txt; fi"]}]},
            {"id": "u", "depends_on": ["t"], "script": [{"write": "u.txt", "content": "u\n"}]},
        ],
    }))
    first = json.loads(launcher_cli(repo, "run", str(plan), "--no-merge", "--json").stdout)
    (repo / "README.md").write_text("user readme\n")
    git(repo, "commit", "-qam", "user changes README")
    landed = launcher_cli(repo, "land", first["run_id"], "--json")
    out = json.loads(landed.stdout)
    rows = {row["id"]: row for row in out["tasks"]}
    assert landed.returncode == 0 and out["status"] == "succeeded", out["message"]
    assert rows["t"]["state"] == "merged" and rows["u"]["state"] == "merged", rows
    assert rows["u"]["files"] == ["u.txt"]  # README.md was attempt 1's, never u's
    assert git(repo, "show", "main:README.md") == "user readme\n"
    rejected = not_selected_head(repo, "t.attempt-1")
    assert rejected and not is_ancestor(repo, rejected, "main")
    assert main_files(repo) >= {"two.txt", "u.txt"}


# 05: the approved attempt breaks the check, the other still waits for the operator.
def test_an_attempt_waiting_at_the_cap_is_decided_after_the_selected_attempt_breaks_the_check(
    repo: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"grader": "judge", "iteration_cap": 1, "max_parallel": 1,
                "integration_check": "sh -c '! test -e bad.txt'"},
        "agents": {"judge": {"adapter": "scripted-grader", "set_env": {
            "LAUNCHER_GRADER_MODE": "always_satisfied,always_revise",
            "LAUNCHER_GRADER_STATE": str(tmp_path / "grader-state")}}},
        "task": [{"id": "t", "attempts": 2, "script": [{"run": ["sh", "-c", ATTEMPT_1_BAD]}]}],
    }))
    first = json.loads(launcher_cli(repo, "run", str(plan), "--json").stdout)
    rows = {row["id"]: row for row in first["tasks"]}
    # Attempt 1 (approved by the grader, selected) did not land, and says so.
    assert rows["t.attempt-1"]["message"].startswith("best-of-N: selected, then not landed: breaks the "
                                                     "integration check"), rows["t.attempt-1"]
    # Attempt 2 waits at the cap again, and so does t: the operator's decision can still be made.
    assert rows["t.attempt-2"]["state"] == "escalated", rows["t.attempt-2"]
    assert rows["t"]["state"] == "escalated", rows["t"]
    chosen = launcher_cli(repo, "choose", first["run_id"], "t", "approve", "--note", "ok", "--json")
    after = {row["id"]: row for row in json.loads(chosen.stdout)["tasks"]}
    assert chosen.returncode == 0 and after["t"]["state"] == "merged", after["t"]
    assert main_files(repo) >= {"good.txt"} and "bad.txt" not in main_files(repo)
    assert after["t.attempt-1"]["message"].startswith("best-of-N: selected, then not landed")


# 05 (retry): an attempt approved, selected and not landed is not "never approved".
def test_a_best_of_task_whose_approved_attempts_all_broke_the_check_says_so(repo: Path, tmp_path: Path) -> None:
    report = run_plan_dict(repo, {
        "run": {"integration_check": "sh -c '! test -e bad.txt'"},
        "task": [{"id": "t", "attempts": 2, "script": [{"write": "bad.txt", "content": "bad\n"}]}],
    })
    t = task(report, "t")
    assert t.state == "failed", t.message
    for k in (1, 2):
        assert task(report, f"t.attempt-{k}").message.startswith("best-of-N: selected, then not landed"), k
    retried = json.loads(launcher_cli(repo, "resume", report.run_id, "--retry-failed", "--json").stdout)
    t_row = next(row for row in retried["tasks"] if row["id"] == "t")
    assert "no attempt was approved" not in t_row["message"], t_row


# 08: grading an attempt of a landed best-of task is refused; the run stays succeeded.
def test_grading_an_attempt_of_a_landed_best_of_task_is_refused_and_the_run_stays_succeeded(repo: Path) -> None:
    report = run_plan_dict(repo, {"task": [{"id": "t", "attempts": 2, "script": [
        {"run": ["sh", "-c", "printf '%s\\n' $LAUNCHER_BEST_OF_ATTEMPT > t$LAUNCHER_BEST_OF_ATTEMPT.txt"]}]}]})
    assert report.status == "succeeded", report.message
    graded = launcher_cli(repo, "grade", report.run_id, "t.attempt-1")
    assert graded.returncode == 2, graded.stdout + graded.stderr
    assert "an attempt lands only as its task" in graded.stderr and "'t' has landed" in graded.stderr
    assert launcher_cli(repo, "status", report.run_id, "--exit-status").returncode == 0
    status = json.loads(launcher_cli(repo, "status", report.run_id, "--json").stdout)
    assert status["status"] == "succeeded"
    assert next(r for r in status["tasks"] if r["id"] == "t.attempt-1")["state"] == "skipped"


# 07: the landed commit and the report name the agent whose attempt landed.
def test_the_landed_best_of_commit_names_the_agent_of_the_attempt_that_landed(repo: Path) -> None:
    report = run_plan_dict(repo, {
        "agents": {"bot": {"adapter": "command", "command": ["sh", "-c", "printf 'bot\\n' > bot.txt"]}},
        "task": [{"id": "t", "attempts": 2, "attempt_agents": ["scripted", "bot"], "prompt": "do it",
                  "script": [{"write": "x.txt", "content": "x\n"}, {"write": "y.txt", "content": "y\nz\nw\n"}]}],
    })
    assert task(report, "t.attempt-2").message.startswith("best-of-N: selected"), task(report, "t.attempt-2")
    assert "t.attempt-2" in git(repo, "log", "-1", "--format=%s", "main")
    trailer = git(repo, "log", "-1", "--format=%(trailers:key=Launcher-Agent,valueonly)", "main").strip()
    assert trailer == "bot"
    assert task(report, "t").agent == "bot"


# 02: the integration check run again on the same tree is a run of the user's command, counted.
def test_check_runs_counts_the_integration_check_run_again_on_the_same_tree(repo: Path, tmp_path: Path) -> None:
    calls, go = tmp_path / "calls", tmp_path / "go"
    check = tmp_path / "check.sh"
    check.write_text(f"#!/bin/sh\necho run >> {calls}\ntouch {go}\nsleep 3\nexit 0\n")
    check.chmod(0o755)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"run": {"integration_check": str(check)}, "task": [
        {"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]}))
    editor = subprocess.Popen(["sh", "-c", f"while [ ! -e {go} ]; do sleep 0.1; done; sleep 1; "
                               f"printf 'my edit\\n' >> {repo / 'README.md'}"])
    try:
        out = json.loads(launcher_cli(repo, "run", str(plan), "--json").stdout)
    finally:
        editor.wait(timeout=60)
    assert any("when it ran again on the same tree" in n["message"] for n in out["notes"]), out["notes"]
    ran = len(calls.read_text().splitlines())
    assert ran == 2
    assert out["queue"]["check_runs"] == ran


# 06: `logs RUN T` of a best-of task shows the attempt it lands, and names every attempt's log.
def test_logs_of_a_best_of_task_show_the_attempt_it_lands(repo: Path) -> None:
    report = run_plan_dict(repo, {"task": [{"id": "t", "attempts": 2, "script": [
        {"run": ["sh", "-c", "printf '%s\\n' $LAUNCHER_BEST_OF_ATTEMPT > t$LAUNCHER_BEST_OF_ATTEMPT.txt"]}]}]})
    landed = next(a for a in ("t.attempt-1", "t.attempt-2") if "lands as t" in task(report, a).message)
    shown = launcher_cli(repo, "logs", report.run_id, "t")
    assert shown.returncode == 0, shown.stderr
    assert "no log yet" not in shown.stderr
    assert f"showing {landed}, the attempt it lands" in shown.stderr
    assert f"launcher logs {report.run_id} t.attempt-2" in shown.stderr
    assert f"scripted agent finished {landed}" in shown.stdout


# 03: `land --from` lands the next-best approved attempt when the selected one breaks the check.
def test_land_from_lands_the_next_best_attempt_a_shard_exported_beside_the_selected_one(
    repo: Path, tmp_path: Path
) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"integration_check": "sh -c '! test -e bad.txt'"},
        "task": [{"id": "t", "attempts": 2, "script": [{"run": ["sh", "-c", ATTEMPT_1_BAD]}]}],
    }))
    shard = tmp_path / "shard"
    git(tmp_path, "clone", "-q", str(remote), str(shard))
    exported = tmp_path / "export"
    ran = launcher_cli(shard, "run", str(plan), "--shard", "1/1", "--no-merge", "--export", str(exported))
    assert ran.returncode == 0, ran.stderr
    manifest = json.loads((exported / "launcher-export.json").read_text())
    assert [s["id"] for s in manifest["spares"]] == ["t.attempt-2"]
    final = tmp_path / "final"
    git(tmp_path, "clone", "-q", str(remote), str(final))
    landed = launcher_cli(final, "land", "--from", str(exported), "--plan", str(plan), "--json")
    out = json.loads(landed.stdout)
    rows = {row["id"]: row for row in out["tasks"]}
    assert landed.returncode == 0 and out["status"] == "succeeded", out["message"]
    assert rows["t"]["state"] == "merged"
    assert main_files(final) >= {"good.txt"} and "bad.txt" not in main_files(final)
    assert rows["t.attempt-1"]["message"].startswith("best-of-N: selected, then not landed")
    # Every ref the report names is in the repository it reports on.
    for row in out["tasks"]:
        for word in row["message"].split():
            if word.startswith("refs/"):
                ref = word.rstrip(",;)")
                assert git(final, "rev-parse", "--verify", "--quiet", ref).strip(), ref


# 01, a dependent whose own change does not apply onto the attempt that lands: not landed, said why.
def test_a_dependent_whose_change_does_not_apply_onto_the_landed_attempt_fails_with_its_branch_kept(
    repo: Path,
) -> None:
    report = run_plan_dict(repo, {
        "run": {"integration_check": "sh -c '! grep -q one shared.txt'"},
        "task": [
            {"id": "t", "attempts": 2, "script": [{"run": ["sh", "-c",
             "if [ $LAUNCHER_BEST_OF_ATTEMPT = 1 ]; then echo one > shared.txt; else echo two > shared.txt; fi"]}]},
            {"id": "u", "depends_on": ["t"], "script": [{"replace": "shared.txt", "old": "one", "new": "one by u"}]},
        ],
    })
    assert task(report, "t").state == "merged"
    u = task(report, "u")
    assert u.state == "failed" and "does not apply onto what lands instead (in shared.txt)" in u.message, u.message
    assert "--retry-failed" in u.message and u.branch
    assert git(repo, "show", "main:shared.txt") == "two\n"
    rejected = not_selected_head(repo, "t.attempt-1")
    assert rejected and not is_ancestor(repo, rejected, "main")
    assert "u" not in (report.queue.culprits if report.queue else [])
