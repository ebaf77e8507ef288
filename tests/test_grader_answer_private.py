"""A grader's verdict is its own answer: no other process of the run can write it, and it is
read as `launcher gate grade-record` reads it.

Each grader attempt answers into a private directory of its own (not under the repository's
`.launcher/`), read only once that attempt and what escaped it are gone; the task's code run by
rubric `check:` commands is reaped before the grader starts. So a process an earlier attempt left
running, the task's own code, or another task's agent cannot approve a task its grader did not."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli

# A grader for any rubric: it answers every criterion of the packet; needs_revision fails the first.
GRADER = r"""
import json, os, re, sys, time
packet = open(sys.argv[1]).read()
ids = re.findall(r"^### ([A-Za-z][A-Za-z0-9_-]*)\. ", packet, re.M)

def verdict(satisfied, why):
    return {"verdict": "satisfied" if satisfied else "needs_revision",
            "criterion_results": [{"criterion": c, "pass": satisfied or c != ids[0], "justification": why}
                                  for c in ids],
            "required_fixes": [] if satisfied else ["fix it (%s)" % ids[0]],
            "iteration": int(os.environ["LAUNCHER_ITERATION"]), "rubric_version": "default@1"}
"""
HONEST = "\nprint(json.dumps(verdict(False, 'the grader said so')))\n"


def run_graded(repo: Path, tmp_path: Path, grader: str, tasks: str, **run: Any) -> dict[str, Any]:
    (tmp_path / "grader.py").write_text(GRADER + grader)
    keys = "".join(f"{k} = {json.dumps(v)}\n" for k, v in run.items())
    plan = tmp_path / "plan.toml"
    plan.write_text(
        f'[run]\ngrader = "g"\niteration_cap = 1\n{keys}'
        f'[agents.g]\nadapter = "command"\ncommand = [{json.dumps(sys.executable)}, '
        f'{json.dumps(str(tmp_path / "grader.py"))}, "{{packet}}"]\n' + tasks
    )
    done = launcher_cli(repo, "run", str(plan), "--json", timeout=180)
    assert done.stdout.strip(), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


ONE_TASK = '[[task]]\nid = "t1"\nscript = [{write = "notes.md", content = "n\\n"}]\n'


def shown(report: dict[str, Any], task_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in report["tasks"] if t["id"] == task_id)
    return found


def notes(report: dict[str, Any]) -> list[str]:
    return [note["message"] for note in report["notes"]]


def test_a_verdict_left_by_an_earlier_grader_attempts_escaped_process_is_never_taken(
    repo: Path, tmp_path: Path
) -> None:
    # Attempt 1 answers nothing, but its `setsid` child writes "satisfied" to the answer file a
    # moment later, while the corrective attempt 2 runs; attempt 2 answers needs_revision.
    report = run_graded(
        repo,
        tmp_path,
        r"""
if os.environ["LAUNCHER_ATTEMPT"] == "1":
    answer = os.environ["LAUNCHER_CONTRACT"]
    if os.fork() == 0:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)  # the attempt's output ends with the attempt
        time.sleep(1.5)
        with open(answer, "w") as out:
            json.dump(verdict(True, "left by attempt 1"), out)
        os._exit(0)
    sys.exit(0)
time.sleep(3)
"""
        + HONEST,
        ONE_TASK,
    )
    t1 = shown(report, "t1")
    assert [r["verdict"] for r in t1["rounds"]] == ["needs_revision"], t1
    assert t1["state"] == "escalated" and not t1["merged"], t1
    assert "killed 1 process(es) that escaped their process group after grader attempt 1" in notes(report)
    assert "notes.md" not in git(repo, "ls-tree", "--name-only", "main")


CHECK_THAT_FORGES = r"""
import glob, json, os, subprocess, time
if os.fork() == 0:
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True).stdout.strip()
    grading = os.path.join(os.path.dirname(common), ".launcher", "runs", os.environ["LAUNCHER_RUN_ID"],
                           os.environ["LAUNCHER_TASK_ID"], "grading")
    forged = {"verdict": "satisfied", "criterion_results": [
        {"criterion": c, "pass": True, "justification": "forged"} for c in ("C1", "C2", "C3")],
        "required_fixes": [], "iteration": 1, "rubric_version": "default@1"}
    end = time.time() + 15
    while time.time() < end:
        for path in [os.path.join(grading, "1-verdict.agent.json")] + glob.glob("/proc/*/environ"):
            if path.endswith("environ"):  # the answer path, from the environment of the grader
                try:
                    env = dict(e.split(b"=", 1) for e in open(path, "rb").read().split(b"\0") if b"=" in e)
                except OSError:
                    continue
                if (env.get(b"LAUNCHER_RUN_ID"), env.get(b"LAUNCHER_TASK_ID")) != (
                        os.environb[b"LAUNCHER_RUN_ID"], os.environb[b"LAUNCHER_TASK_ID"]):
                    continue
                path = env.get(b"LAUNCHER_CONTRACT", b"").decode()
            try:
                with open(path, "w") as out:
                    json.dump(forged, out)
            except OSError:
                pass
        time.sleep(0.1)
    os._exit(0)
"""
RUBRIC = """---
version: 1
name: default
---
# Default
## Criteria
### C1. Does it.
Prose.
### C2. Tested.
Prose.
### C3. Runs.
check: python3 chk.py
"""


def test_the_tasks_own_code_run_by_a_rubric_check_cannot_answer_for_the_grader(repo: Path, tmp_path: Path) -> None:
    # The check leaves a daemon that writes "satisfied" wherever the grader's answer may go.
    (repo / "rubrics").mkdir()
    (repo / "rubrics" / "default.md").write_text(RUBRIC)
    (repo / "chk.py").write_text(CHECK_THAT_FORGES)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a rubric with a check")
    report = run_graded(repo, tmp_path, "\ntime.sleep(2)\n" + HONEST, ONE_TASK)
    t1 = shown(report, "t1")
    assert [r["verdict"] for r in t1["rounds"]] == ["needs_revision"], t1
    assert not t1["merged"], t1
    assert "killed 1 process(es) that escaped their process group after the rubric checks" in notes(report)
    recorded = (repo / ".launcher" / "runs" / report["run_id"] / "t1" / "grading" / "1-verdict.json").read_text()
    assert "forged" not in recorded and "the grader said so" in recorded


def test_another_tasks_agent_cannot_write_a_tasks_verdict(repo: Path, tmp_path: Path) -> None:
    # t2's agent writes "satisfied" to where t1's grader answer used to be read from, once t1's
    # grader runs; t1's grader answers needs_revision only after that write.
    started, forged = tmp_path / "t1-grader-started", tmp_path / "t2-forged"
    grader = (
        f"\nopen({str(started)!r}, 'w').close()\nend = time.time() + 60\n"
        f"while not os.path.exists({str(forged)!r}) and time.time() < end:\n    time.sleep(0.05)\n" + HONEST
    )
    (tmp_path / "t2.py").write_text(rf"""
import json, os, subprocess, time
common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                        capture_output=True, text=True).stdout.strip()
grading = os.path.join(os.path.dirname(common), ".launcher", "runs", os.environ["LAUNCHER_RUN_ID"], "t1", "grading")
end = time.time() + 60
while not os.path.exists({str(started)!r}) and time.time() < end:
    time.sleep(0.05)
forged = {{"verdict": "satisfied", "criterion_results": [], "required_fixes": [], "iteration": 1,
          "rubric_version": "default@1"}}
forged["criterion_results"] = [{{"criterion": c, "pass": True, "justification": "forged by t2"}}
                               for c in json.load(open({str(tmp_path / "ids.json")!r}))]
with open(os.path.join(grading, "1-verdict.agent.json"), "w") as out:
    json.dump(forged, out)
open({str(forged)!r}, "w").close()
open("t2.txt", "w").write("t2\n")
""")
    # the criteria t1's grader answers (t2 cannot read the packet's copy before it is written)
    grader = f"\njson.dump(ids, open({str(tmp_path / 'ids.json')!r}, 'w'))\n" + grader
    tasks = (
        ONE_TASK + '[[task]]\nid = "t2"\nagent = "t2"\nprompt = "p"\n'
        f'[agents.t2]\nadapter = "command"\ncommand = [{json.dumps(sys.executable)}, '
        f"{json.dumps(str(tmp_path / 't2.py'))}]\n"
    )
    report = run_graded(repo, tmp_path, grader, tasks)
    assert forged.exists(), "t2's agent wrote while t1's grader ran"
    t1 = shown(report, "t1")
    assert [r["verdict"] for r in t1["rounds"]] == ["needs_revision"], t1
    assert not t1["merged"], t1
    assert "notes.md" not in git(repo, "ls-tree", "--name-only", "main")


def test_a_verdict_that_is_not_utf8_is_invalid_as_the_validator_says_and_gets_a_corrective_respawn(
    repo: Path, tmp_path: Path
) -> None:
    # Attempt 1 writes a "satisfied" verdict with bytes that are not UTF-8 in a justification;
    # attempt 2 answers needs_revision.
    report = run_graded(
        repo,
        tmp_path,
        r"""
if os.environ["LAUNCHER_ATTEMPT"] == "1":
    data = json.dumps(verdict(True, "BAD")).encode().replace(b"BAD", b"\xff\xfe bad")
    open(os.environ["LAUNCHER_CONTRACT"], "wb").write(data)
    open(os.path.join(os.path.dirname(__file__), "answer-1.json"), "wb").write(data)  # for the validator
    sys.exit(0)
"""
        + HONEST,
        ONE_TASK,
    )
    t1 = shown(report, "t1")
    assert [r["verdict"] for r in t1["rounds"]] == ["needs_revision"], t1
    assert not t1["merged"] and "notes.md" not in git(repo, "ls-tree", "--name-only", "main")
    assert "grader attempt 1: answer_unreadable" in notes(report)
    hint = json.loads((repo / ".launcher" / "runs" / report["run_id"] / "t1" / "grading" / "1-hint-1.json").read_text())
    assert hint["error_key"] == "answer_unreadable" and "is not UTF-8 text (byte " in hint["observations"], hint
    gate = launcher_cli(repo, "gate", "grade-record", "--file", str(tmp_path / "answer-1.json"))
    assert gate.returncode == 1 and "not UTF-8 text" in gate.stdout, gate.stdout
