"""Features combined: best-of-N, `land --from`, two landings at once, a run's budget.

- A land that finds a best-of-N task already on the target reports the attempt the target holds
  (its landing commit's `Launcher-Attempt`, the head it merged), never the export's first choice.
- Two landings of one export at once: the second waits for the first (one landing at a time per
  shard run), then reports what the first landed `merged` ("already landed ...; not landed
  again"), never `blocked`/`failed`, even for a best-of-N task that fell back to its next attempt.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli, start_launcher

FAKES = Path(__file__).parent / "fakes"

# Each call of the integration check leaves a mark; the second one (the fallback attempt's
# landing) says so and takes a while, so a second land can be started in the middle of it.
CHECK = """import os, pathlib, sys, time
marks = pathlib.Path(sys.argv[1])
calls = len(list(marks.iterdir())) + 1
(marks / str(calls)).touch()
if calls == 2:
    time.sleep(3)
sys.exit(1 if pathlib.Path("bad.txt").exists() else 0)
"""

BEST_OF = {"id": "t", "attempts": 2, "script": [{"run": ["sh", "-c", (
    "if [ $LAUNCHER_BEST_OF_ATTEMPT = 1 ]; then echo bad > bad.txt; "
    "else printf 'a2\\nmore\\n' > t.txt; echo x > t2.txt; fi")]}]}


def _exported(tmp_path: Path, tasks: list[dict[str, Any]], run: dict[str, Any] | None = None,
              agents: dict[str, Any] | None = None, check: str = CHECK) -> tuple[Path, Path, Path]:
    """A repository, its bare remote, a shard run of `tasks` in a clone of it, exported, not landed:
    (the remote, the plan file, the export). Attempt 1 of `t` (the smaller diff: selected) breaks
    the integration check; attempt 2 is the spare."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# s\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "check.py").write_text(check)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"integration_check": f"{sys.executable} {tmp_path / 'check.py'} {marks}", **(run or {})},
        "agents": agents or {}, "task": tasks}))
    shard = tmp_path / "shard"
    git(tmp_path, "clone", "-q", str(remote), str(shard))
    export = tmp_path / "export"
    done = launcher_cli(shard, "run", str(plan), "--shard", "1/1", "--no-merge", "--export", str(export), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return remote, plan, export


def _rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in report["tasks"]}

def _wait_for_mark(mark: Path, proc: subprocess.Popen[str]) -> None:
    """Until the first landing's check reached `mark` (or it ended)."""
    deadline = time.monotonic() + 120
    while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.exists(), proc.communicate()


def _both_report_everything_landed(clone: Path, one: subprocess.Popen[str],
                                   two: subprocess.Popen[str]) -> dict[str, dict[str, Any]]:
    """Both landings end succeeded with t, u and a merged and main holding each once; the
    second's rows."""
    reports = []
    for proc in (one, two):
        out, err = proc.communicate(timeout=300)
        assert out, err
        reports.append((proc.returncode, json.loads(out)))
    assert [git(clone, "show", f"main:{name}") for name in ("t.txt", "u.txt", "a.txt")] == ["a2\nmore\n", "u\n", "a\n"]
    for code, report in reports:
        rows = _rows(report)
        assert code == 0 and report["status"] == "succeeded", rows
        assert all(rows[k]["state"] == "merged" and rows[k]["merged"] for k in ("t", "u", "a")), rows
    second = _rows(reports[1][1])
    assert all("already landed on main" in second[k]["message"] for k in ("t", "u", "a")), second
    return second



def test_a_second_land_of_the_export_names_the_attempt_that_landed_not_the_shards_first_choice(
        tmp_path: Path) -> None:
    remote, plan, export = _exported(tmp_path, [BEST_OF])
    final = tmp_path / "final"
    git(tmp_path, "clone", "-q", str(remote), str(final))
    first = launcher_cli(final, "land", "--from", str(export), "--plan", str(plan), "--json", timeout=240)
    assert first.returncode == 0, first.stdout + first.stderr
    landing = git(final, "log", "-1", "--first-parent", "--format=%P%x00%(trailers:key=Launcher-Attempt,valueonly)",
                  "main")
    parents, _, attempt = landing.partition("\0")
    assert attempt.strip() == "t.attempt-2"  # the fallback landed
    landed_head = parents.split()[1]

    again = launcher_cli(final, "land", "--from", str(export), "--plan", str(plan), "--json", timeout=240)

    assert again.returncode == 0, again.stdout + again.stderr
    rows = _rows(json.loads(again.stdout))
    assert rows["t"]["state"] == "merged" and "not landed again" in rows["t"]["message"]
    assert rows["t"]["head_sha"] == landed_head  # what is on main, not attempt 1's head
    assert rows["t.attempt-2"]["message"].startswith("best-of-N: landed as t by "), rows["t.attempt-2"]
    assert "not selected" not in rows["t.attempt-2"]["message"]
    assert "not landed" in rows["t.attempt-1"]["message"] and "t.attempt-2" in rows["t.attempt-1"]["message"]
    # The landed attempt is not filed again as a spare of the new run.
    refs = git(final, "for-each-ref", "--format=%(refname)", "refs/launcher/")
    assert not [ref for ref in refs.split() if ref.endswith("t.attempt-2/not-selected")], refs


def test_two_lands_of_one_export_at_once_report_the_fallen_back_task_and_its_dependent_merged(
        tmp_path: Path) -> None:
    remote, plan, export = _exported(tmp_path, [
        BEST_OF,
        {"id": "u", "depends_on": ["t"], "script": [{"write": "u.txt", "content": "u\n"}]},
        {"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]},
    ])
    final = tmp_path / "final"
    git(tmp_path, "clone", "-q", str(remote), str(final))
    one = start_launcher(final, "land", "--from", str(export), "--plan", str(plan), "--json")
    _wait_for_mark(tmp_path / "marks" / "2", one)
    # The first land fell back to attempt 2 (attempt 1's branch filed away) and is checking it now.
    two = start_launcher(final, "land", "--from", str(export), "--plan", str(plan), "--json")
    _both_report_everything_landed(final, one, two)
    merges = [s for s in git(final, "log", "--first-parent", "--format=%s", "main").splitlines()
              if s.startswith("Merge ")]
    assert len(merges) == 3, merges  # nothing landed twice


def test_a_run_its_budget_stopped_goes_on_with_resume_and_a_higher_budget_paying_nothing_twice(
        repo: Path, tmp_path: Path) -> None:
    env = {"PATH": f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}"}
    argv_log = tmp_path / "argv.jsonl"
    claude = {"FAKE_MODE": "success", "FAKE_ARGV_LOG": str(argv_log)}  # each run reports $0.0421
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"max_parallel": 1}, "agents": {"claude": {"adapter": "claude", "set_env": claude}},
        "task": [{"id": "t0", "agent": "claude", "prompt": "0"}, {"id": "t1", "agent": "claude", "prompt": "1"},
                 {"id": "t2", "agent": "claude", "prompt": "2", "depends_on": ["t1"]}]}))
    first = launcher_cli(repo, "run", str(plan), "--budget-usd", "0.04", "--json", env=env)
    report = json.loads(first.stdout)
    run_id, rows = report["run_id"], _rows(report)
    assert rows["t0"]["state"] == "merged" and rows["t1"]["state"] == "skipped"
    # The stop says how to go on.
    assert f"`launcher resume {run_id} --budget-usd X`" in rows["t1"]["message"], rows["t1"]
    assert len(argv_log.read_text().splitlines()) == 1
    # t0 started below the budget and went past it: the run says so (the budget stops starts only).
    assert any("the reported spend $0.04 passed the run budget $0.04" in note["message"]
               for note in report["notes"]), report["notes"]

    same = launcher_cli(repo, "resume", run_id, "--json", env=env)  # the budget still reached: nothing starts
    assert _rows(json.loads(same.stdout))["t1"]["state"] == "skipped"
    assert len(argv_log.read_text().splitlines()) == 1

    more = launcher_cli(repo, "resume", run_id, "--budget-usd", "1", "--json", env=env)

    assert more.returncode == 0, more.stdout + more.stderr
    rows = _rows(json.loads(more.stdout))
    assert [rows[k]["state"] for k in ("t0", "t1", "t2")] == ["merged"] * 3, rows
    assert len(argv_log.read_text().splitlines()) == 3  # t1 and t2 ran; t0, landed before, did not
    assert (repo / "claude_t1.txt").exists() and (repo / "claude_t2.txt").exists()


def test_an_attempt_waiting_at_the_cap_is_exported_so_the_land_escalates_its_task_as_a_local_run_does(
        tmp_path: Path) -> None:
    # Attempt 1 is approved (selected) and breaks the integration check at the landing; attempt 2
    # (code under src/ with no test: the scripted grader sends it back, the cap of 1 escalates it)
    # waited at the cap when the selection set it aside. A CI matrix throws the shard's clone away.
    remote, plan, export = _exported(tmp_path, [{"id": "t", "attempts": 2, "script": [{"run": ["sh", "-c", (
        "if [ $LAUNCHER_BEST_OF_ATTEMPT = 1 ]; then echo bad > bad.txt; "
        "else mkdir -p src; echo 'X = 1' > src/x.py; fi")]}]}],
        run={"grader": "judge", "iteration_cap": 1}, agents={"judge": {"adapter": "scripted-grader"}})
    manifest = json.loads((export / "launcher-export.json").read_text())
    assert [(s["id"], s["state"]) for s in manifest["spares"]] == [("t.attempt-2", "escalated")]
    final = tmp_path / "final"
    git(tmp_path, "clone", "-q", str(remote), str(final))

    landed = launcher_cli(final, "land", "--from", str(export), "--plan", str(plan), "--json", timeout=240)

    report = json.loads(landed.stdout)
    rows = _rows(report)
    assert rows["t"]["state"] == "escalated", rows["t"]
    assert rows["t.attempt-2"]["state"] == "escalated", rows["t.attempt-2"]
    assert "breaks the integration check" in rows["t.attempt-1"]["message"]
    chosen = launcher_cli(final, "choose", report["run_id"], "t", "approve", timeout=240)
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    assert git(final, "show", "main:src/x.py") == "X = 1\n"  # attempt 2's work, from the export alone


def test_an_attempt_closed_as_technical_debt_at_the_cap_does_not_claim_a_ledger_row_it_does_not_get(
        repo: Path, tmp_path: Path) -> None:
    # Attempt 1 is approved and lands; attempt 2 (code under src/ with no test) reaches the cap of
    # 1 and `--on-cap tech-debt` closes it: its task landed, so TECHNICAL_DEBT.md gets no row.
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"grader": "judge", "iteration_cap": 1}, "agents": {"judge": {"adapter": "scripted-grader"}},
        "task": [{"id": "t", "attempts": 2, "script": [{"run": ["sh", "-c", (
            "if [ $LAUNCHER_BEST_OF_ATTEMPT = 1 ]; then echo good > a.txt; "
            "else mkdir -p src; echo 'X = 1' > src/x.py; fi")]}]}]}))

    done = launcher_cli(repo, "run", str(plan), "--on-cap", "tech-debt", "--json", timeout=240)

    rows = _rows(json.loads(done.stdout))
    assert rows["t"]["state"] == "merged", rows["t"]
    assert rows["t.attempt-2"]["message"].startswith("best-of-N: not selected (tech_debt)"), rows["t.attempt-2"]
    # What the run said (its progress lines, the attempt's journaled transition) when it closed it:
    said = [line for line in done.stderr.splitlines() if "t.attempt-2" in line and "technical debt" in line]
    assert said and "no TECHNICAL_DEBT.md row of its own" in " ".join(said), done.stderr[-3000:]
    assert "recorded as technical debt" not in done.stderr
    assert not (repo / "TECHNICAL_DEBT.md").exists()
    assert "TECHNICAL_DEBT.md" not in git(repo, "ls-tree", "-r", "--name-only", "main")


def test_land_run_of_the_shard_run_beside_a_land_from_of_its_export_both_report_everything_merged(
        tmp_path: Path) -> None:
    _, plan, export = _exported(tmp_path, [
        BEST_OF,
        {"id": "u", "depends_on": ["t"], "script": [{"write": "u.txt", "content": "u\n"}]},
        {"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]},
    ])
    shard = tmp_path / "shard"  # the clone that ran the shard: its run's branches are here
    shard_run = json.loads((export / "launcher-export.json").read_text())["run_id"]
    one = start_launcher(shard, "land", shard_run, "--json")
    _wait_for_mark(tmp_path / "marks" / "1", one)
    two = start_launcher(shard, "land", "--from", str(export), "--plan", str(plan), "--json")
    second = _both_report_everything_landed(shard, one, two)
    assert "t.attempt-2 as t" in second["t.attempt-1"]["message"]  # the attempt main holds


def test_a_land_resumed_after_another_landed_its_best_of_task_names_the_attempt_on_the_target(
        tmp_path: Path) -> None:
    # The first land is killed in its first integration check (attempt 1's); a second land of the
    # export lands the task (attempt 1 breaks the check: attempt 2 lands); then the first resumes.
    slow_first = CHECK.replace("if calls == 2:\n    time.sleep(3)", "if calls == 1:\n    time.sleep(60)")
    remote, plan, export = _exported(tmp_path, [BEST_OF], check=slow_first)
    final = tmp_path / "final"
    git(tmp_path, "clone", "-q", str(remote), str(final))
    one = start_launcher(final, "land", "--from", str(export), "--plan", str(plan), "--json")
    _wait_for_mark(tmp_path / "marks" / "1", one)
    os.killpg(one.pid, signal.SIGKILL)
    one.communicate()
    first_run = json.loads(launcher_cli(final, "runs", "--json").stdout)[0]["run_id"]
    second = launcher_cli(final, "land", "--from", str(export), "--plan", str(plan), "--json", timeout=240)
    assert second.returncode == 0, second.stdout + second.stderr
    landed_head = git(final, "log", "-1", "--first-parent", "--format=%P", "main").split()[1]

    resumed = launcher_cli(final, "resume", first_run, "--json", timeout=240)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    rows = _rows(json.loads(resumed.stdout))
    assert rows["t"]["state"] == "merged" and "not landed again" in rows["t"]["message"], rows["t"]
    assert rows["t"]["head_sha"] == landed_head
    assert rows["t.attempt-2"]["message"].startswith("best-of-N: landed as t by "), rows["t.attempt-2"]
    assert "t.attempt-2 as t" in rows["t.attempt-1"]["message"], rows["t.attempt-1"]
