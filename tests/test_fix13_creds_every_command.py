"""Every command that runs agents, a task's checks or graders refuses a credential in the
shared git configuration, as `launcher run` does.

`run`, `resume` and workflows refused it; `launcher grade` ran the task's checks (the agent's
code) again with the job's token in `.git/config`, `launcher choose ... continue` gave the agent
more rounds, `launcher land` ran the integration check, `launcher mutation judge` ran its judge.
Each now stops with exit 3 before anything runs, naming the setting, never the token."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import anyio
import pytest
from conftest import git, write_files
from helpers import launcher_cli

from tests.test_workflows import wf_repo  # noqa: F401  (the fixture)

TOKEN = "ghs_FAKEtoken1234567890"
HEADER = "AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
KEY = "http.https://github.com/.extraheader"


def _leak(repo: Path) -> None:
    """What actions/checkout leaves with `persist-credentials: true`."""
    git(repo, "config", "--local", KEY, HEADER)


def _assert_refused(done: object, seen: Path) -> None:
    out = getattr(done, "stdout", "") + getattr(done, "stderr", "")
    assert getattr(done, "returncode", None) == 3, out
    assert "holds a credential" in out and f"{KEY} (.git/config)" in out, out
    assert TOKEN not in out and HEADER.split()[-1] not in out
    assert not seen.exists() or HEADER not in seen.read_text(), "something ran with the token in reach"


def _run(repo: Path, tmp_path: Path, plan: dict[str, object]) -> dict[str, object]:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return dict(json.loads(launcher_cli(repo, "run", str(path), "--no-merge", "--json").stdout))


def _checked_task(tmp_path: Path, seen: Path) -> dict[str, object]:
    """One task whose check records the git configuration it can read."""
    return {"id": "t", "script": [{"write": "b.txt", "content": "b\n"}],
            "checks": [f"sh -c 'git config --list >> {seen}; true'"]}


def test_grade_refuses_before_running_the_tasks_checks_again(repo: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    report = _run(repo, tmp_path, {"task": [_checked_task(tmp_path, seen)]})
    assert seen.exists()  # the check ran in the run
    seen.unlink()
    _leak(repo)

    done = launcher_cli(repo, "grade", str(report["run_id"]), "t")

    _assert_refused(done, seen)
    assert not seen.exists()


def test_land_refuses_before_its_integration_check(repo: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    report = _run(repo, tmp_path, {"run": {"integration_check": f"sh -c 'git config --list >> {seen}; true'"},
                                   "task": [{"id": "t", "script": [{"write": "b.txt", "content": "b\n"}]}]})
    assert report["status"] != "failed", report
    _leak(repo)

    done = launcher_cli(repo, "land", str(report["run_id"]))

    _assert_refused(done, seen)
    assert git(repo, "log", "--format=%s").count("\n") == 1  # nothing landed


def test_choose_continue_refuses_before_another_agent_round(repo: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    revise = {"judge": {"adapter": "scripted-grader", "set_env": {"LAUNCHER_GRADER_MODE": "always_revise"}}}
    task = {"id": "a", "script": [{"write": "a.txt", "content": "a\n"},
                                  {"run": ["sh", "-c", f"git config --list >> {seen}"]}]}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"run": {"grader": "judge", "iteration_cap": 1}, "agents": revise, "task": [task]}))
    report = json.loads(launcher_cli(repo, "run", str(path), "--json").stdout)
    assert report["tasks"][0]["state"] == "escalated", report
    seen.unlink(missing_ok=True)
    _leak(repo)

    done = launcher_cli(repo, "choose", report["run_id"], "a", "continue", "--note", "more")

    _assert_refused(done, seen)
    status = json.loads(launcher_cli(repo, "status", report["run_id"], "--json").stdout)
    assert status["tasks"][0]["state"] == "escalated"  # the choice was not applied either


def test_the_mutation_judge_refuses_before_its_agent_runs(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    seen = tmp_path / "seen.txt"
    labelled = {"contract_version": "1", "description": "ours", "calibration": [
        {"id": i, "fault": "comparison", "target": "calc/core.py", "line": 2, "rationale": "r",
         "orig": "    return age >= 18", "mut": f"    return age {op} 18", "status": "SURVIVED",
         "ground_truth": truth, "label_rationale": "r", "labelled_by": "Ada <ada@example.com>"}
        for i, (op, truth) in enumerate([(">", "genuine"), ("==", "equivalent")], 1)]}
    write_files(root, {
        "pyproject.toml": '[project]\nname = "calc"\n',
        "calc/__init__.py": "",
        "calc/core.py": "def is_adult(age):\n    return age >= 18\n",
        "mutation/calibration-set.json": json.dumps(labelled),
        "launcher.toml": '[agents.probe]\nadapter = "command"\n'
                         f'command = {json.dumps(["sh", "-c", f"git config --list >> {seen}; exit 1"])}\n',
    })
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    _leak(root)

    done = launcher_cli(root, "mutation", "judge", "--calibrate", "--agent", "probe", "--confirm-judge")

    _assert_refused(done, seen)
    assert not seen.exists()


@pytest.mark.parametrize("command", ["grade", "land"])
def test_without_a_credential_the_same_commands_run_as_before(repo: Path, tmp_path: Path, command: str) -> None:
    seen = tmp_path / "seen.txt"
    report = _run(repo, tmp_path, {"task": [_checked_task(tmp_path, seen)]})
    git(repo, "config", "--local", "http.extraheader", "Accept: application/json")

    done = launcher_cli(repo, command, str(report["run_id"]), *(["t"] if command == "grade" else []))

    assert "credential" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_workflows_next_step_asked_over_mcp_is_refused_to_the_caller_not_left_to_its_runner(
    wf_repo: Path,  # noqa: F811
) -> None:
    pytest.importorskip("mcp")
    from tests.test_workflow_review import _server  # needs mcp

    started = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", "what=x", "--no-run", "--json")
    assert started.returncode == 0, started.stdout + started.stderr
    wid = json.loads(started.stdout)["workflowId"]
    _leak(wf_repo)
    got: dict[str, object] = {}

    async def scenario() -> None:
        async with _server(wf_repo) as session:
            got["next"] = await session.call_tool("orchestrator", {"action": "next", "workflowId": wid})

    anyio.run(scenario)
    result = got["next"]
    envelope = json.loads(result.content[0].text)  # type: ignore[attr-defined]
    assert envelope["error_key"] == "shared_git_credentials", envelope
    assert f"{KEY} (.git/config)" in envelope["observations"] and TOKEN not in json.dumps(envelope)
    shown = json.loads(launcher_cli(wf_repo, "workflow", "status", wid, "--json").stdout)
    assert all(p["status"] == "pending" for p in shown["phases"]), shown  # no runner started a phase
