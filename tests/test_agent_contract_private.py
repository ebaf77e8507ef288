"""An agent's completion contract is its own answer: no other process of the run can write it.

Each agent attempt writes its contract (`$LAUNCHER_CONTRACT`) into a private directory of its own,
outside the repository (mode 0700, a random name), journaled while the attempt runs and removed
once the contract is collected; what the agent wrote is kept in the task's artifacts for the
record (`contract.agent.json`). Another task's agent writing where a task's contract used to be
read from (`.launcher/runs/<run>/<task>/contract.agent.json`) changes nothing; a run killed with
-9 resumes with the contract its agent gave; no private directory is left behind."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli

CONTRACT_PREFIX = "launcher-contract-"


def _contract(task_id: str, summary: str, files: list[str]) -> dict[str, Any]:
    return {
        "contract_version": "1",
        "task_id": task_id,
        "status": "done",
        "summary": summary,
        "files_changed": files,
        "tests_added": [],
        "decisions": [],
        "blockers": [],
        "llm_observations": "-",
    }


def _agent(tmp_path: Path, name: str, body: str) -> str:
    script = tmp_path / f"{name}.py"
    script.write_text("import json, os, subprocess, sys, time\n" + body)
    return (
        f'[agents.{name}]\nadapter = "command"\ncommand = [{json.dumps(sys.executable)}, {json.dumps(str(script))}]\n'
    )


def _commit_plan(repo: Path, text: str) -> None:
    (repo / "plan.toml").write_text(text)
    git(repo, "add", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")


def _private_env(tmp_path: Path) -> dict[str, str]:
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return {"TMPDIR": str(tmp)}


def _left(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith(CONTRACT_PREFIX))


def _run_killed(repo: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`launcher run plan.toml` in its own session, with the private temporary directory (the
    plan's agent or check kills the launcher with SIGKILL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | _private_env(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "launcher", "run", "plan.toml", "-q"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )


def _tasks(stdout: str) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in json.loads(stdout)["tasks"]}


def test_another_tasks_agent_cannot_write_a_tasks_contract(repo: Path, tmp_path: Path) -> None:
    # t1 answers, then waits while t2 writes a forged contract for t1 where t1's used to be read
    # from, and where t2 could guess it from its own; only then does t1's round end.
    started, forged = tmp_path / "t1-answered", tmp_path / "t2-forged"
    victim = _agent(
        tmp_path,
        "victim",
        f"""
own = os.environ["LAUNCHER_CONTRACT"]
mode = os.stat(os.path.dirname(own)).st_mode & 0o777
open("t1.txt", "w").write("t1\\n")
json.dump({_contract("t1", "t1's own account", ["t1.txt"])!r}, open(own, "w"))
json.dump({{"mode": mode, "path": own}}, open({str(tmp_path / "t1-seen.json")!r}, "w"))
open({str(started)!r}, "w").close()
end = time.time() + 60
while not os.path.exists({str(forged)!r}) and time.time() < end:
    time.sleep(0.05)
""",
    )
    attacker = _agent(
        tmp_path,
        "attacker",
        f"""
end = time.time() + 60
while not os.path.exists({str(started)!r}) and time.time() < end:
    time.sleep(0.05)
common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                        capture_output=True, text=True).stdout.strip()
run_dir = os.path.join(os.path.dirname(common), ".launcher", "runs", os.environ["LAUNCHER_RUN_ID"])
mine = os.environ["LAUNCHER_CONTRACT"]
guesses = [os.path.join(run_dir, "t1", "contract.agent.json"),             # where it used to be
           mine.replace(os.environ["LAUNCHER_TASK_ID"], "t1"),             # its own, for t1
           os.path.join(os.path.dirname(os.path.dirname(mine)), "t1", os.path.basename(mine))]
forged = {_contract("t1", "forged by t2", ["t1.txt", "forged.txt"])!r}
for path in guesses:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        json.dump(forged, open(path, "w"))
    except OSError:
        pass
open("t2.txt", "w").write("t2\\n")
json.dump({_contract("t2", "t2's own account", ["t2.txt"])!r}, open(mine, "w"))
open({str(forged)!r}, "w").close()
""",
    )
    _commit_plan(
        repo,
        victim
        + attacker
        + '[[task]]\nid = "t1"\nagent = "victim"\nprompt = "p"\n'
        + '[[task]]\nid = "t2"\nagent = "attacker"\nprompt = "p"\n',
    )
    done = launcher_cli(repo, "run", "plan.toml", "--json", timeout=180, env=_private_env(tmp_path))
    assert done.stdout.strip(), done.stderr
    assert forged.exists(), "t2's agent wrote while t1's agent was running"
    tasks = _tasks(done.stdout)
    t1 = tasks["t1"]
    assert t1["state"] == "merged", t1["message"]
    assert t1["contract"]["summary"] == "t1's own account", t1["contract"]
    assert t1["contract"]["files_changed"] == ["t1.txt"]
    assert tasks["t2"]["contract"]["summary"] == "t2's own account"
    artifacts = repo / ".launcher" / "runs" / json.loads(done.stdout)["run_id"] / "t1"
    assert json.loads((artifacts / "contract.json").read_text())["summary"] == "t1's own account"
    # The agent's own file, kept for the record (the forged one t2 wrote there is replaced).
    assert json.loads((artifacts / "contract.agent.json").read_text())["summary"] == "t1's own account"
    seen = json.loads((tmp_path / "t1-seen.json").read_text())
    assert seen["mode"] == 0o700 and Path(seen["path"]).parent.name.startswith(CONTRACT_PREFIX)
    assert not str(seen["path"]).startswith(str(repo)), seen  # outside the repository
    assert _left(tmp_path) == []


def test_a_run_killed_with_minus_9_resumes_with_the_contract_its_agent_gave(repo: Path, tmp_path: Path) -> None:
    # The agent answers and exits; the launcher is killed (SIGKILL) by the task's check, after the
    # round was recorded. `resume` goes on from there with that round's contract, without running
    # (nor paying) the agent again.
    trap, ran = tmp_path / "trap-sprung", tmp_path / "agent-runs"
    agent = _agent(
        tmp_path,
        "answers",
        f"""
open({str(ran)!r}, "a").write("ran\\n")
open("a.txt", "w").write("a\\n")
json.dump({_contract("t", "the account given before the crash", ["a.txt"])!r},
          open(os.environ["LAUNCHER_CONTRACT"], "w"))
""",
    )
    check = f"if [ ! -e {trap} ]; then touch {trap}; kill -9 $PPID; sleep 5; fi; true"
    _commit_plan(repo, agent + f'[[task]]\nid = "t"\nagent = "answers"\nprompt = "p"\nchecks = [{json.dumps(check)}]\n')
    killed = _run_killed(repo, tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert trap.exists()
    again = launcher_cli(repo, "resume", "--json", env=_private_env(tmp_path))
    assert again.returncode == 0, again.stderr
    (only,) = json.loads(again.stdout)["tasks"]
    assert only["state"] == "merged", only["message"]
    assert only["contract"]["summary"] == "the account given before the crash"
    assert only["contract"]["source"] != "derived"
    assert ran.read_text() == "ran\n"  # once: the finished round is never run again
    assert _left(tmp_path) == []


def test_the_private_directory_of_an_attempt_killed_with_the_launcher_is_removed_on_resume(
    repo: Path, tmp_path: Path
) -> None:
    # The agent answers, then kills its launcher (SIGKILL) mid-round: the attempt's private
    # directory, journaled, is left. `resume` runs the round again and removes it.
    trap = tmp_path / "trap-sprung"
    agent = _agent(
        tmp_path,
        "dies",
        f"""
open("a.txt", "w").write("a\\n")
json.dump({_contract("t", "answered", ["a.txt"])!r}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
if not os.path.exists({str(trap)!r}):
    open({str(trap)!r}, "w").close()
    os.kill(os.getppid(), 9)
""",
    )
    _commit_plan(repo, agent + '[[task]]\nid = "t"\nagent = "dies"\nprompt = "p"\n')
    killed = _run_killed(repo, tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (left,) = _left(tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / "tmp" / left).st_mode) == 0o700
    again = launcher_cli(repo, "resume", "--json", env=_private_env(tmp_path))
    assert again.returncode == 0, again.stderr
    (only,) = json.loads(again.stdout)["tasks"]
    assert only["state"] == "merged" and only["contract"]["summary"] == "answered", only
    assert _left(tmp_path) == []


def test_clean_removes_the_private_directory_a_killed_launcher_left(repo: Path, tmp_path: Path) -> None:
    agent = _agent(tmp_path, "dies", "os.kill(os.getppid(), 9)\n")
    _commit_plan(repo, agent + '[[task]]\nid = "t"\nagent = "dies"\nprompt = "p"\n')
    killed = _run_killed(repo, tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(_left(tmp_path)) == 1
    cleaned = launcher_cli(repo, "clean", env=_private_env(tmp_path))
    assert cleaned.returncode == 0, cleaned.stderr
    assert _left(tmp_path) == []
