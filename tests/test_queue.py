"""The merge queue (DESIGN 8): batches with one integration check, bisection to the culprit,
culprits and conflicts sent back to their agents, conflict markers refused, and a conflict
matrix that orders the landings and is shown in `status` and `--json`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git
from helpers import launcher_cli, run_plan, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.store.queue_log import QueueLog


def _writes(path: str, content: str, rounds: list[int] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"write": path, "content": content}
    if rounds:
        step["rounds"] = rounds
    return step


def _counting_check(tmp_path: Path, body: str = "") -> str:
    """An integration check (outside the repository) that counts its runs in runs.txt and
    fails when the merged tree holds the word BROKEN."""
    script = tmp_path / "check.py"
    script.write_text(
        "import pathlib, sys\n"
        f"runs = pathlib.Path({str(tmp_path / 'runs.txt')!r})\n"
        "with runs.open('a') as fh:\n"
        "    fh.write('run\\n')\n"
        f"{body}"
        "for path in pathlib.Path('.').rglob('*.txt'):\n"
        "    if 'BROKEN' in path.read_text():\n"
        "        print(f'{path}: BROKEN found')\n"
        "        sys.exit(1)\n"
        "print('all fine')\n")
    return f"{sys.executable} {script}"


def _runs(tmp_path: Path) -> int:
    found = tmp_path / "runs.txt"
    return len(found.read_text().splitlines()) if found.exists() else 0


def _target_never_broken(repo: Path) -> None:
    """No tree the target ever pointed at holds a file with BROKEN (the reflog lists them all)."""
    for commit in git(repo, "reflog", "--format=%H", "main").split():
        found = subprocess.run(["git", "grep", "-q", "BROKEN", commit, "--", "*.txt"], cwd=repo)
        assert found.returncode == 1, f"main pointed at {commit[:12]}, whose tree is BROKEN"


def _steps(repo: Path, run_id: str) -> list[dict[str, Any]]:
    log = QueueLog(repo / ".launcher" / "launcher.db")
    try:
        return log.steps(run_id)
    finally:
        log.close()


def test_a_batch_of_good_branches_costs_one_integration_check(repo: Path, tmp_path: Path) -> None:
    tasks = [{"id": f"t{n}", "script": [_writes(f"f{n}.txt", f"{n}\n")]} for n in range(1, 5)]

    report = run_plan(repo, tasks, integration_check=_counting_check(tmp_path))

    assert [t.state for t in report.tasks] == ["merged"] * 4, [t.message for t in report.tasks]
    assert _runs(tmp_path) == 1  # landing one by one ran it four times
    assert report.queue.batches == 1 and report.queue.check_runs == 1
    assert all((repo / f"f{n}.txt").exists() for n in range(1, 5))


def test_bisection_lands_the_rest_and_sends_the_culprit_back_until_it_passes(
    repo: Path, tmp_path: Path
) -> None:
    tasks = [{"id": f"t{n}", "script": [_writes(f"f{n}.txt", f"{n}\n")]} for n in (1, 2, 4)]
    culprit = {"id": "t3", "script": [_writes("f3.txt", "BROKEN\n", rounds=[1]),
                                      _writes("f3.txt", "fixed\n", rounds=[2])]}
    tasks.insert(2, culprit)

    report = run_plan(repo, tasks, integration_check=_counting_check(tmp_path))

    assert [t.state for t in report.tasks] == ["merged"] * 4, [t.message for t in report.tasks]
    assert (repo / "f3.txt").read_text() == "fixed\n"
    _target_never_broken(repo)
    assert report.queue.culprits == ["t3"] and report.queue.returned == ["t3"]
    assert report.queue.bisections >= 1
    # whole batch (fails), t1+t2 (passes), t1+t2+t3 (fails: t3 is the culprit, t1+t2 land),
    # t4 folded again onto t1+t2 (passes), t3 revised.
    assert _runs(tmp_path) == report.queue.check_runs == 5
    feedback = Path(report.artifacts) / "t3" / "grading" / "1-feedback.md"
    assert "f3.txt: BROKEN found" in feedback.read_text()
    history = git(repo, "log", "--merges", "--first-parent", "--format=%B", "main")  # the landings
    assert all(history.count(f"Launcher-Task: t{n}\n") == 1 for n in range(1, 5))


def test_a_culprit_at_the_iteration_cap_fails_and_the_rest_land(repo: Path, tmp_path: Path) -> None:
    tasks = [{"id": "good", "script": [_writes("good.txt", "ok\n")]},
             {"id": "bad", "script": [_writes("bad.txt", "BROKEN\n")]}]

    report = run_plan(repo, tasks, integration_check=_counting_check(tmp_path), iteration_cap=2)

    assert task(report, "good").state == "merged"
    bad = task(report, "bad")
    assert bad.state == "failed" and "integration check failed" in bad.message
    assert "bad.txt: BROKEN found" in bad.message
    assert report.queue.returned == ["bad"]  # one revision round, then the cap
    _target_never_broken(repo)


def test_batch_size_splits_the_candidates(repo: Path, tmp_path: Path) -> None:
    tasks = [{"id": f"t{n}", "script": [_writes(f"f{n}.txt", f"{n}\n")]} for n in range(1, 6)]

    report = run_plan(repo, tasks, integration_check=_counting_check(tmp_path), batch=2)

    assert [t.state for t in report.tasks] == ["merged"] * 5
    assert report.queue.batches == 3 and _runs(tmp_path) == 3


def _launcher_killer(tmp_path: Path) -> str:
    """Kill the launcher (SIGKILL) during the second integration check, once."""
    marker = tmp_path / "killed"
    return (
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if len(runs.read_text().splitlines()) == 2 and not marker.exists():\n"
        "    marker.write_text('x')\n"
        "    import os, signal\n"
        "    pid = os.getppid()\n"
        "    while pid > 1:\n"
        "        cmd = pathlib.Path(f'/proc/{pid}/cmdline').read_bytes().split(b'\\0')\n"
        "        if b'launcher' in cmd and b'-m' in cmd:\n"
        "            os.kill(pid, signal.SIGKILL)\n"
        "            break\n"
        "        pid = int(pathlib.Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[1])\n"
        "    sys.exit(1)\n")


def test_a_launcher_killed_mid_bisection_resumes_without_landing_twice(
    repo: Path, tmp_path: Path
) -> None:
    tasks: list[dict[str, Any]] = [
        {"id": f"t{n}", "script": [_writes(f"f{n}.txt", f"{n}\n")]} for n in (1, 2, 4)]
    tasks.insert(2, {"id": "t3", "script": [_writes("f3.txt", "BROKEN\n", rounds=[1]),
                                            _writes("f3.txt", "fixed\n", rounds=[2])]})
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"run": {"integration_check": _counting_check(
        tmp_path, _launcher_killer(tmp_path))}, "task": tasks}))

    killed = launcher_cli(repo, "run", str(plan), "--json")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert git(repo, "rev-parse", "main") == git(repo, "rev-parse", "main@{0}")
    run_id = json.loads(launcher_cli(repo, "status", "--json").stdout)["run_id"]
    before = [s["kind"] for s in _steps(repo, run_id)]
    assert before.count("check") == 1 and "bisect" in before  # it died on the search's first probe

    resumed = launcher_cli(repo, "resume", run_id, "--json")

    report = json.loads(resumed.stdout)
    assert [t["state"] for t in report["tasks"]] == ["merged"] * 4, resumed.stderr
    history = git(repo, "log", "--merges", "--first-parent", "--format=%B", "main")  # the landings
    assert all(history.count(f"Launcher-Task: t{n}\n") == 1 for n in range(1, 5))
    _target_never_broken(repo)
    # The whole batch's failing verdict was journaled before the kill: never run again. Six
    # runs: the five of an uninterrupted run, plus the one the kill cut short.
    assert _runs(tmp_path) == 6
    assert git(repo, "status", "--porcelain") == ""


README_A = "# sample from a\n"
README_B = "# sample from b\n"
RESOLVED = "# sample from a and b\n"


def test_on_conflict_agent_gives_a_resolution_round_in_the_tasks_worktree(repo: Path) -> None:
    has_markers = {"run": ["grep", "-q", "^<<<<<<< ", "README.md"], "rounds": [2]}
    tasks = [
        {"id": "a", "script": [_writes("README.md", README_A)]},
        {"id": "b", "script": [_writes("README.md", README_B, rounds=[1]), has_markers,
                               _writes("README.md", RESOLVED, rounds=[2])]},
    ]

    report = run_plan(repo, tasks, on_conflict="agent")

    assert [t.state for t in report.tasks] == ["merged", "merged"], [t.message for t in report.tasks]
    assert (repo / "README.md").read_text() == RESOLVED
    assert task(report, "b").rounds == [] and report.queue.returned == ["b"]
    feedback = (Path(report.artifacts) / "b" / "grading" / "1-feedback.md").read_text()
    assert "README.md" in feedback and "+# sample from a" in feedback  # the other side's change
    assert git(repo, "status", "--porcelain") == ""


def test_on_conflict_keep_is_the_default(repo: Path) -> None:
    tasks = [{"id": "a", "script": [_writes("README.md", README_A)]},
             {"id": "b", "script": [_writes("README.md", README_B)]}]

    report = run_plan(repo, tasks)

    assert [t.state for t in report.tasks] == ["merged", "conflicted"]
    assert report.queue.returned == []


def test_markers_left_by_a_resolution_round_refuse_the_landing(repo: Path) -> None:
    tasks = [
        {"id": "a", "script": [_writes("README.md", README_A)]},
        {"id": "b", "script": [_writes("README.md", README_B, rounds=[1]),
                               _writes("other.txt", "touched\n", rounds=[2])]},
    ]

    report = run_plan(repo, tasks, on_conflict="agent")

    b = task(report, "b")
    assert b.state == "failed" and "conflict markers at README.md:1" in b.message, b.message
    assert (repo / "README.md").read_text() == README_A


def test_conflict_markers_committed_by_any_task_refuse_its_landing(repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "x")
    (repo / "fixture.md").write_text("<<<<<<< example in a doc\n")
    git(repo, "add", "fixture.md")
    git(repo, "commit", "-q", "-m", "a fixture holding a marker line")
    tasks = [
        {"id": "marks", "script": [_writes("notes.txt", "<<<<<<< HEAD\nx\n=======\ny\n>>>>>>> b\n")]},
        {"id": "doc", "script": [{"append": "fixture.md", "content": "more\n"}]},
    ]

    report = run_plan(repo, tasks)

    marks = task(report, "marks")
    assert marks.state == "failed" and "notes.txt:1, notes.txt:5" in marks.message, marks.message
    assert task(report, "doc").state == "merged"  # a marker line it did not add is not its own


def test_the_queue_lands_around_the_task_that_conflicts_with_two_others(repo: Path) -> None:
    tasks = [
        {"id": "wide", "script": [_writes("README.md", "# wide\n"),
                                  {"replace": "app.py", "old": "a + b", "new": "b + a"}]},
        {"id": "doc", "script": [_writes("README.md", "# doc\n")]},
        {"id": "code", "script": [{"replace": "app.py", "old": "a + b", "new": "(a + b)"}]},
    ]

    report = run_plan(repo, tasks)

    assert [t.state for t in report.tasks] == ["conflicted", "merged", "merged"]
    pairs = {(c.a, c.b, c.kind, tuple(c.files)) for c in report.conflicts}
    assert pairs == {("wide", "doc", "conflict", ("README.md",)),
                     ("wide", "code", "conflict", ("app.py",))}


def test_status_shows_the_conflict_matrix_of_approved_branches(repo: Path) -> None:
    tasks = [{"id": "a", "script": [_writes("README.md", README_A)]},
             {"id": "b", "script": [_writes("README.md", README_B)]},
             {"id": "c", "script": [_writes("c.txt", "c\n")]}]
    run_plan(repo, tasks, merge=False)

    shown = launcher_cli(repo, "status")
    report = json.loads(launcher_cli(repo, "status", "--json").stdout)

    assert report["conflicts"] == [{"a": "a", "b": "b", "kind": "conflict", "files": ["README.md"]}]
    assert "conflict: a x b (README.md)" in shown.stdout


def test_status_predicts_a_conflict_from_files_touched_while_an_agent_runs(
    repo: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [
        {"id": "quick", "script": [_writes("README.md", README_A)]},
        {"id": "slow", "script": [_writes("README.md", README_B), {"sleep": 60}]},
    ]}))
    running = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(plan), "--no-merge"],
                               cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        predicted: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not predicted and time.monotonic() < deadline:
            time.sleep(0.3)
            shown = launcher_cli(repo, "status", "--json")
            if shown.returncode == 0 and shown.stdout.strip():
                predicted = [c for c in json.loads(shown.stdout)["conflicts"] if c["kind"] == "predicted"]
        assert predicted == [{"a": "quick", "b": "slow", "kind": "predicted", "files": ["README.md"]}]
    finally:
        running.send_signal(signal.SIGINT)
        running.wait(timeout=30)


FAKES = Path(__file__).parent / "fakes"


def test_a_culprits_revision_round_continues_its_agents_session(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}:{os.environ['PATH']}")
    argv_log = tmp_path / "argv.jsonl"
    flag = tmp_path / "failed-once"
    check = (f"if [ -f claude_bot.txt ] && [ ! -f {flag} ]; then touch {flag}; "
             "echo 'claude_bot.txt breaks it'; exit 1; fi")
    plan = {"run": {"integration_check": check},
            "agents": {"claude": {"adapter": "claude", "set_env": {
                "FAKE_MODE": "success", "FAKE_ARGV_LOG": str(argv_log)}}},
            "task": [{"id": "bot", "agent": "claude"}]}
    report = anyio.run(start_run, repo, validate_plan(plan, "test plan"), RunOptions(), lambda _e: None)

    assert task(report, "bot").state == "merged", task(report, "bot").message
    calls = [json.loads(line)["argv"] for line in argv_log.read_text().splitlines()]
    assert len(calls) == 2
    first_session = calls[0][calls[0].index("--session-id") + 1]
    assert calls[1][calls[1].index("--resume") + 1] == first_session


def test_a_dependent_of_a_culprit_waits_for_its_revision_and_lands_after_it(
    repo: Path, tmp_path: Path
) -> None:
    tasks = [
        {"id": "base", "script": [_writes("base.txt", "BROKEN\n", rounds=[1]),
                                  _writes("base.txt", "fixed\n", rounds=[2])]},
        {"id": "user", "depends_on": ["base"], "script": [_writes("user.txt", "uses base\n")]},
    ]

    report = run_plan(repo, tasks, integration_check=_counting_check(tmp_path))

    assert [t.state for t in report.tasks] == ["merged", "merged"], [t.message for t in report.tasks]
    assert (repo / "base.txt").read_text() == "fixed\n"
    _target_never_broken(repo)


def test_on_conflict_agent_in_launcher_toml_applies_and_a_best_of_task_is_kept(repo: Path) -> None:
    (repo / "launcher.toml").write_text('[merge]\non_conflict = "agent"\n')
    git(repo, "add", "launcher.toml")
    git(repo, "commit", "-q", "-m", "config")
    tasks = [
        {"id": "a", "script": [_writes("README.md", README_A)]},
        {"id": "b", "script": [_writes("README.md", README_B, rounds=[1]),
                               _writes("README.md", RESOLVED, rounds=[2])]},
        {"id": "c", "attempts": 2, "script": [_writes("README.md", "# sample from c\n")]},
    ]

    report = run_plan(repo, tasks)

    assert task(report, "b").state == "merged" and report.queue.returned == ["b"]
    assert task(report, "c").state == "conflicted"  # it has no agent of its own to resolve it


def test_a_target_moved_by_someone_else_during_the_landing_gets_the_work_folded_again(
    repo: Path, tmp_path: Path
) -> None:
    # Another run lands (or the user commits) between this run's fold and its compare-and-swap:
    # here the integration check's first run does it. The work is folded onto the new tip,
    # checked again and landed, not parked with "merge it yourself".
    once = tmp_path / "moved-once"
    body = (f"import subprocess\nif not pathlib.Path({str(once)!r}).exists():\n"
            f"    pathlib.Path({str(once)!r}).write_text('')\n"
            f"    pathlib.Path({str(repo / 'other.txt')!r}).write_text('from another run')\n"
            f"    subprocess.run(['git', '-C', {str(repo)!r}, 'add', 'other.txt'], check=True)\n"
            f"    subprocess.run(['git', '-C', {str(repo)!r}, '-c', 'user.name=o', '-c', 'user.email=o@o',\n"
            "                    'commit', '-q', '-m', 'landed by another run'], check=True)\n")
    tasks = [{"id": "t1", "script": [_writes("f1.txt", "1\n")]}]
    events: list[Any] = []
    report = run_plan(repo, tasks, events=events, integration_check=_counting_check(tmp_path, body))
    assert report.status == "succeeded", report.message
    assert task(report, "t1").state == "merged", task(report, "t1").message
    # The park that only made way for the new fold is never shown as the task's state.
    assert not [e for e in events if e.task_id == "t1" and "parked on" in (e.message or "")]
    assert git(repo, "log", "--format=%s", "main~1", "-1").strip() == "landed by another run"
    assert (repo / "f1.txt").read_text() == "1\n" and git(repo, "status", "--porcelain").strip() == ""
    assert (repo / "other.txt").exists()
    assert _runs(tmp_path) == 2  # the new fold (another tree) was checked too
