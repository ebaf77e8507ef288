"""Workflows tell the truth and never run twice: a cancelled phase whose run had already landed,
concurrent `next`, `plan --write` over existing files, templates fixed at `start`, hostile
parameters, step plans checked at `start`, tasks credited to their own phase, coverage under the
project's interpreter, stale error files, reserved template names, `parallel_with` and internal
errors. Real repositories, real subprocesses, the real CLI."""

from __future__ import annotations

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
import pytest

from launcher.app.workflow import engine
from launcher.errors import UsageProblem
from tests.conftest import git, write_files
from tests.helpers import launcher_cli
from tests.test_workflows import _scripts, wf_repo  # noqa: F401  (the fixture)

ONE_PHASE = '''name = "one"
[[phase]]
id = "test"
artifacts = ["test/results.json"]
[[phase.primary]]
role = "tester"
prompt = "test it"
'''


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _wait_file(path: Path, limit: float = 60) -> None:
    deadline = time.time() + limit
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert path.exists(), path


def _slow_test_command(repo: Path, started: Path, release: Path) -> None:
    """The project's test command says it started, then waits for `release`."""
    write_files(repo, {
        "workflows/one.toml": ONE_PHASE,
        "slowtest.py": (f"import os, time\nopen({str(started)!r}, 'w').close()\n"
                        f"for _ in range(1200):\n    if os.path.exists({str(release)!r}):\n        break\n"
                        "    time.sleep(0.05)\n"),
        "launcher.toml": '[roles]\ndefault = "scripted"\n[workflow]\ntest_command = "python3 slowtest.py"\n',
    })
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a slow test command")


# 1 -------------------------------------------------------------------------------------------

def test_cancel_after_a_phase_landed_reports_it_landed_and_keeps_its_run_succeeded(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    started, release = tmp_path / "tests-started", tmp_path / "release"
    _slow_test_command(wf_repo, started, release)
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps({"test-tester": [{"write": "tests/test_new.py", "content": "# new\n"}]}))
    made = launcher_cli(wf_repo, "workflow", "start", "one", "--no-run", "--json", "--scripts", str(scripts))
    wid = json.loads(made.stdout)["id"]
    runner = subprocess.Popen([sys.executable, "-m", "launcher", "workflow", "next", wid, "--quiet"], cwd=wf_repo,
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        _wait_file(started)  # the phase's run landed; its test results are being written
        os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
        assert "tests/test_new.py" in git(wf_repo, "ls-tree", "-r", "--name-only", "main")
        done = launcher_cli(wf_repo, "workflow", "cancel", wid, "--json")
    finally:
        release.write_text("")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    phase = data["phases"][0]
    assert data["status"] == "cancelled"
    assert phase["status"] == "succeeded" and phase["error"] is None
    (task,) = phase["tasks"]
    landed = task.pop("commit")  # the task's landed commit, recorded for the lost-work check
    assert task == {"id": "test-tester", "role": "tester", "agent": "scripted", "state": "merged", "merged": True}
    assert git(wf_repo, "merge-base", "--is-ancestor", landed, "main") == ""
    assert "had already landed on main" in data["message"] and "nothing of it lands" not in data["message"]
    run = json.loads(launcher_cli(wf_repo, "status", phase["run_id"], "--json").stdout)
    assert run["status"] == "succeeded" and "nothing of this run lands" not in (run.get("message") or "")
    assert "tests/test_new.py" in git(wf_repo, "ls-tree", "-r", "--name-only", "main")


# 2 -------------------------------------------------------------------------------------------

def _runs(repo: Path) -> int:
    db = sqlite3.connect(repo / ".launcher" / "launcher.db")
    try:
        return int(db.execute("SELECT count(*) FROM runs").fetchone()[0])
    finally:
        db.close()


def test_concurrent_next_runs_the_phase_once_and_refuses_the_others(wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps(_scripts(wf_repo)))
    made = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", "what=mul", "--no-run", "--json",
                        "--scripts", str(scripts))
    wid = json.loads(made.stdout)["id"]
    racers = [subprocess.Popen([sys.executable, "-m", "launcher", "workflow", "next", wid, "--json", "--quiet"],
                               cwd=wf_repo, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(4)]
    outcomes = [(racer.wait(timeout=120), racer.stdout.read() if racer.stdout else "") for racer in racers]
    ran = [out for code, out in outcomes if code == 0]
    refused = [out for code, out in outcomes if code == 2]
    assert len(ran) == 1 and len(refused) == 3, outcomes
    # refused while the phase runs, or (a late caller) because it then waits at its checkpoint
    assert {json.loads(out)["error_key"] for out in refused} <= {"workflow_runner_alive",
                                                                 "workflow_waiting_checkpoint"}, refused
    assert json.loads(ran[0])["status"] == "waiting_checkpoint"
    assert _runs(wf_repo) == 1  # one run of the plan phase, not one per caller


def test_concurrent_next_in_one_process_claims_once(wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    """The MCP server and a CLI share the same app functions: two calls at once, one runs."""
    state = anyio.run(engine.create, wf_repo, "mini", {"what": "mul"}, {"scripts": _scripts(wf_repo)})
    outcomes: list[Any] = []

    async def one() -> None:
        try:
            outcomes.append(await engine.run_next(wf_repo, state.id, lambda e: None))
        except UsageProblem as exc:
            outcomes.append(exc.error_key)

    async def both() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(one)
            group.start_soon(one)

    anyio.run(both)
    assert sorted(str(getattr(o, "status", o)) for o in outcomes) == ["waiting_checkpoint", "workflow_runner_alive"]
    assert _runs(wf_repo) == 1


# 3 -------------------------------------------------------------------------------------------

def test_plan_write_never_overwrites_a_file_nor_writes_into_git_or_outside_the_repository(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    head, app = (wf_repo / ".git" / "HEAD").read_bytes(), (wf_repo / "app.py").read_bytes()
    for path, key in ((".git/HEAD", "usage:write"), (".git/new-plan.json", "usage:write"),
                      ("app.py", "usage:write_exists"), (str(tmp_path / "outside.json"), "usage:write")):
        done = launcher_cli(wf_repo, "workflow", "plan", "x", "--workflow", "mini", "--write", path, "--json")
        assert done.returncode == 2 and "Traceback" not in done.stderr, (path, done.stderr)
        assert json.loads(done.stdout)["error_key"] == key, (path, done.stdout)
    assert (wf_repo / ".git" / "HEAD").read_bytes() == head and (wf_repo / "app.py").read_bytes() == app
    assert not (wf_repo / ".git" / "new-plan.json").exists() and not (tmp_path / "outside.json").exists()
    assert git(wf_repo, "status", "--porcelain") == ""

    first = launcher_cli(wf_repo, "workflow", "plan", "x", "--workflow", "mini", "--write", "plan.json")
    assert first.returncode == 0, first.stderr
    again = launcher_cli(wf_repo, "workflow", "plan", "y", "--workflow", "mini", "--write", "plan.json")
    assert again.returncode == 2 and "--overwrite" in again.stderr
    forced = launcher_cli(wf_repo, "workflow", "plan", "y", "--workflow", "mini", "--write", "plan.json",
                          "--overwrite")
    assert forced.returncode == 0, forced.stderr
    assert "y" in json.loads((wf_repo / "plan.json").read_text())["task"][0]["prompt"]


def test_mcp_plan_write_refuses_an_existing_file_unless_overwrite_is_asked(wf_repo: Path) -> None:  # noqa: F811
    from tests.test_workflow_review import _call, _server
    app = (wf_repo / "app.py").read_bytes()

    async def scenario() -> None:
        async with _server(wf_repo) as session:
            for path in ("app.py", ".git/HEAD"):
                got = await _call(session, {"action": "plan", "context": "x", "options": {"write": path}})
                assert got.get("ok") is False and got["error_key"].startswith("usage:write"), got
            bad = await _call(session, {"action": "plan", "context": "x",
                                        "options": {"write": "app.py", "overwrite": "yes"}})
            assert bad.get("ok") is False and "overwrite" in bad["observations"], bad
            made = await _call(session, {"action": "plan", "context": "x", "options": {"write": "p.json"}})
            assert made["result"]["written"] == "p.json", made

    anyio.run(scenario)
    assert (wf_repo / "app.py").read_bytes() == app and (wf_repo / "p.json").is_file()


# 4 -------------------------------------------------------------------------------------------

def test_a_workflow_keeps_the_template_it_started_with_and_other_toml_files_in_workflows_are_not_templates(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps(_scripts(wf_repo)))
    made = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", "what=mul", "--json", "--quiet",
                        "--scripts", str(scripts))
    wid = json.loads(made.stdout)["id"]
    assert json.loads(made.stdout)["status"] == "waiting_checkpoint", made.stderr
    # midway, the template's later phases are renamed and removed, and an app config lands in workflows/
    edited = (wf_repo / "workflows" / "mini.toml").read_text().replace('id = "build"', 'id = "construct"')
    edited = edited[:edited.index('[[phase]]\nid = "test"')]
    write_files(wf_repo, {"workflows/mini.toml": edited, "workflows/settings.toml": "[server]\nport = 8080\n"})
    git(wf_repo, "add", "-A")
    git(wf_repo, "commit", "-q", "-m", "edit the template; the app's settings")
    listed = launcher_cli(wf_repo, "workflow", "workflows", "--json")
    assert listed.returncode == 0, listed.stderr
    mini = next(t for t in json.loads(listed.stdout) if t["name"] == "mini")
    assert mini["phases"] == ["plan", "construct"]  # new workflows get the edited template
    assert launcher_cli(wf_repo, "workflow", "checkpoint", wid, "--signal", "ok").returncode == 0
    built = launcher_cli(wf_repo, "workflow", "next", wid, "--json", "--quiet")
    assert built.returncode == 0 and "Traceback" not in built.stderr, built.stderr
    tested = launcher_cli(wf_repo, "workflow", "next", wid, "--json", "--quiet")
    assert tested.returncode == 0, tested.stderr
    data = json.loads(tested.stdout)
    assert data["status"] == "completed"
    assert [(p["id"], p["status"]) for p in data["phases"]] == [
        ("plan", "succeeded"), ("build", "succeeded"), ("test", "succeeded")]
    assert "def test_mul" in git(wf_repo, "show", "main:tests/test_mul.py")


# 5 -------------------------------------------------------------------------------------------

def test_a_parameter_that_is_not_utf8_is_refused_at_start_without_a_traceback(wf_repo: Path) -> None:  # noqa: F811
    done = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", os.fsdecode(b"what=caf\xe9"), "--json")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    envelope = json.loads(done.stdout)
    assert envelope["error_key"] == "workflow_param_invalid" and "not UTF-8" in envelope["observations"]
    assert "--param what" in envelope["observations"]
    with pytest.raises(UsageProblem, match="not UTF-8"):  # what an MCP client's JSON can carry
        anyio.run(engine.create, wf_repo, "mini", {"what": "a\ud800b"}, {})
    assert launcher_cli(wf_repo, "workflow", "list", "--all", "--json").stdout.strip() == "[]"


# 6 -------------------------------------------------------------------------------------------

DUPLICATE_TASKS = '''name = "dup"
[[phase]]
id = "a"
parallel_with = ["a-b"]
[[phase.primary]]
role = "b-x"
prompt = "write"
[[phase]]
id = "a-b"
[[phase.primary]]
role = "x"
prompt = "write"
'''


def test_a_template_whose_phases_make_the_same_task_id_is_refused_naming_both(repo: Path) -> None:
    write_files(repo, {"workflows/dup.toml": DUPLICATE_TASKS})
    done = launcher_cli(repo, "workflow", "workflow", "dup")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "workflows/dup.toml" in done.stderr and "task id 'a-b-x' repeats" in done.stderr, done.stderr
    write_files(repo, {"workflows/dup.toml": DUPLICATE_TASKS.replace('role = "x"', 'role = "y"').replace(
        'role = "b-x"', 'role = "dev"\nprompt = "one"\n[[phase.primary]]\nrole = "dev"', 1)})
    again = launcher_cli(repo, "workflow", "start", "dup", "--no-run")
    assert again.returncode == 2 and "task id 'a-dev' repeats" in again.stderr, again.stderr


def test_start_refuses_a_prompt_its_agent_cannot_take_and_nothing_is_created(wf_repo: Path) -> None:  # noqa: F811
    write_files(wf_repo, {"launcher.toml": '[agents.bot]\nadapter = "command"\n'
                                           'command = ["python3", "-c", "pass", "{prompt}"]\n'
                                           '[roles]\ndefault = "bot"\n'})
    git(wf_repo, "commit", "-q", "-am", "an agent that takes its prompt as an argument")
    done = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", "what=" + "word " * 20000, "--json")
    assert done.returncode == 2, done.stderr
    envelope = json.loads(done.stdout)
    assert envelope["error_key"] == "plan_invalid:prompt_too_long", envelope
    assert "plan-architect" in envelope["observations"]
    assert launcher_cli(wf_repo, "workflow", "list", "--all", "--json").stdout.strip() == "[]"


def test_a_phase_whose_run_cannot_start_keeps_the_reason_in_its_status(wf_repo: Path) -> None:  # noqa: F811
    made = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", "what=mul", "--no-run", "--json")
    wid = json.loads(made.stdout)["id"]
    # after `start` checked the agents, the configuration changes under the workflow
    write_files(wf_repo, {"launcher.toml": '[agents.bot]\nadapter = "command"\n'
                                           'command = ["no-such-agent-cli-here", "{prompt}"]\n'
                                           '[roles]\ndefault = "bot"\n'})
    git(wf_repo, "commit", "-q", "-am", "an agent whose program is missing")
    ran = launcher_cli(wf_repo, "workflow", "next", wid, "--json", "--quiet")
    assert ran.returncode == 1 and "Traceback" not in ran.stderr, ran.stderr
    shown = json.loads(launcher_cli(wf_repo, "workflow", "status", wid, "--json").stdout)
    assert shown["status"] == "paused" and shown["paused_on"] == "plan"
    assert "no-such-agent-cli-here" in shown["phases"][0]["error"], shown["phases"][0]
    assert "no-such-agent-cli-here" in shown["message"] and "runner" not in shown["message"], shown["message"]
    error = json.loads((wf_repo / ".launcher" / "workflows" / wid / "plan" / "error.json").read_text())
    assert "no-such-agent-cli-here" in error["error"]


# 7 -------------------------------------------------------------------------------------------

PREFIX = '''name = "prefix"
[[phase]]
id = "a"
parallel_with = ["a-b"]
artifacts = ["a/log.md"]
[[phase.primary]]
role = "writer"
prompt = "write"
[[phase]]
id = "a-b"
[[phase.primary]]
role = "other"
prompt = "write"
'''


def test_a_phase_is_credited_with_its_own_tasks_only_when_another_phase_id_starts_with_its_id(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    write_files(wf_repo, {"workflows/prefix.toml": PREFIX})
    git(wf_repo, "add", "-A")
    git(wf_repo, "commit", "-q", "-m", "phases a and a-b")
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps({"a-writer": [{"write": "docs/a.md", "content": "# a\n"}],
                                   "a-b-other": [{"write": "docs/a-b.md", "content": "# a-b\n"}]}))
    done = launcher_cli(wf_repo, "workflow", "start", "prefix", "--json", "--quiet", "--scripts", str(scripts))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "completed"
    assert {p["id"]: [t["id"] for t in p["tasks"]] for p in data["phases"]} == {"a": ["a-writer"],
                                                                                "a-b": ["a-b-other"]}
    log = (wf_repo / ".launcher" / "workflows" / data["id"] / "a" / "log.md").read_text()
    assert "a-writer" in log and "a-b-other" not in log


# 8 -------------------------------------------------------------------------------------------

def test_coverage_runs_the_tests_with_the_interpreter_the_test_command_names(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    """The project's interpreter sees a dependency the launcher's own does not: the coverage run
    must pass exactly as the test run does."""
    deps, bindir = tmp_path / "deps", tmp_path / "bin"
    deps.mkdir()
    bindir.mkdir()
    (deps / "projdep.py").write_text("VALUE = 6\n")
    python = bindir / "python3"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={deps}${{PYTHONPATH:+:$PYTHONPATH}} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    command = "python3 -m unittest discover -s tests -t . -q"  # the project's python3, first on PATH
    write_files(wf_repo, {
        "launcher.toml": f'[roles]\ndefault = "scripted"\n[workflow]\ntest_command = "{command}"\n',
        "workflows/t.toml": ONE_PHASE.replace('"test/results.json"', '"test/results.json", "test/coverage.json"'),
        "tests/test_dep.py": "import unittest\n\nimport projdep\n\n\nclass D(unittest.TestCase):\n"
                             "    def test_dep(self):\n        self.assertEqual(projdep.VALUE, 6)\n",
    })
    git(wf_repo, "add", "-A")
    git(wf_repo, "commit", "-q", "-m", "a test needing the project's own dependency")
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps({"test-tester": [{"write": "tests/test_more.py", "content": "# more\n"}]}))
    done = launcher_cli(wf_repo, "workflow", "start", "one", "--json", "--quiet", "--scripts", str(scripts),
                        env={"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    folder = wf_repo / ".launcher" / "workflows" / json.loads(done.stdout)["id"] / "test"
    results = json.loads((folder / "results.json").read_text())
    coverage = json.loads((folder / "coverage.json").read_text())
    assert results["passed"] is True, results
    assert coverage["measured"] is True and coverage["tests_passed"] is True, coverage


# 9 -------------------------------------------------------------------------------------------

def test_a_phase_that_succeeds_on_retry_keeps_no_error_file(wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    from tests.test_workflows import _gate, _next, _through_build
    marker = tmp_path / "fixed"
    wid = _through_build(wf_repo, _scripts(wf_repo, **{"build-frontend": _gate(marker)}))
    assert _next(wf_repo, wid).paused_on == "build"
    error = wf_repo / ".launcher" / "workflows" / wid / "build" / "error.json"
    assert error.is_file()
    marker.write_text("")
    done = launcher_cli(wf_repo, "workflow", "resume", wid, "--retry-failed", "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    build = json.loads(done.stdout)["phases"][1]
    assert build["status"] == "succeeded" and "build/error.json" not in build["artifacts"]
    assert not error.exists()


# 10 ------------------------------------------------------------------------------------------

def test_a_repository_template_may_not_take_the_reserved_name_custom(repo: Path) -> None:
    write_files(repo, {"workflows/custom.toml": 'name = "custom"\n[parameters.version]\nrequired = true\n'
                                                '[[phase]]\nid = "release"\n[[phase.primary]]\n'
                                                'role = "release-manager"\nprompt = "release {version}"\n'})
    for args in (("workflows",), ("workflow", "custom"), ("start", "custom", "--param", "version=1.2", "--no-run")):
        done = launcher_cli(repo, "workflow", *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (args, done.stderr)
        assert "workflows/custom.toml: name: the template name 'custom' is reserved" in done.stderr, done.stderr
    assert launcher_cli(repo, "workflow", "list", "--all", "--json").stdout.strip() == "[]"


# 11 ------------------------------------------------------------------------------------------

def test_parallel_with_a_phase_that_is_not_next_to_it_is_refused(repo: Path) -> None:
    role = '[[phase.primary]]\nrole = "r"\nprompt = "p"\n'
    write_files(repo, {"workflows/x.toml": (f'name = "x"\n[[phase]]\nid = "a"\nparallel_with = ["c"]\n{role}'
                                            f'[[phase]]\nid = "b"\n{role}[[phase]]\nid = "c"\n{role}')})
    done = launcher_cli(repo, "workflow", "workflow", "x")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "workflows/x.toml" in done.stderr and "parallel_with names 'c', which does not come next to it" \
        in done.stderr, done.stderr
    write_files(repo, {"workflows/x.toml": (f'name = "x"\n[[phase]]\nid = "a"\nparallel_with = ["c"]\n{role}'
                                            f'[[phase]]\nid = "c"\n{role}[[phase]]\nid = "b"\n{role}')})
    shown = json.loads(launcher_cli(repo, "workflow", "workflow", "x", "--json").stdout)
    assert [(p["id"], p["step"]) for p in shown["phases"]] == [("a", 1), ("c", 1), ("b", 2)]


# 12 ------------------------------------------------------------------------------------------

def test_a_cancel_whose_caller_gives_up_midway_still_ends_the_workflow(wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    """An MCP client cancelling its `cancel` request while the runner takes its time to stop."""
    ready = tmp_path / "ready"
    code = (f"import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); open({str(ready)!r}, 'w').close(); "
            "time.sleep(1.5)")
    runner = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        _wait_file(ready)

        async def scenario() -> None:
            from launcher.app.workflow.session import WorkflowSession
            from launcher.models.workflow import PhaseStatus, WorkflowStatus
            state = await engine.create(wf_repo, "mini", {"what": "mul"}, {})
            session = await WorkflowSession.open(wf_repo)

            def change(now: engine.WorkflowState) -> None:
                now.status, now.runner_pid = WorkflowStatus.RUNNING, runner.pid
                now.phase("plan").status = PhaseStatus.RUNNING

            session.update(state.id, change)
            with anyio.move_on_after(0.3):
                await engine.cancel(wf_repo, state.id)
            after = session.load(state.id)
            assert after.status is WorkflowStatus.CANCELLED and after.runner_pid is None, after.message
            assert after.phase("plan").status is PhaseStatus.FAILED

        anyio.run(scenario)
    finally:
        runner.kill()
        runner.wait()


# 13 ------------------------------------------------------------------------------------------

# A launcher bug, planted in the launcher process (sitecustomize runs before the command): a
# damaged journal row is no longer one (it is said as a damaged journal, exit 3).
PLANTED_BUG = """
import launcher.store.workflows as workflows

def _planted_bug(self, workflow_id):
    raise ValueError("planted launcher bug")

workflows.WorkflowStore.load = _planted_bug
"""


def test_an_unexpected_exception_is_one_internal_error_naming_its_saved_traceback(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    wid = anyio.run(engine.create, wf_repo, "mini", {"what": "mul"}, {}).id
    (tmp_path / "sitecustomize.py").write_text(PLANTED_BUG)
    bug = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    done = launcher_cli(wf_repo, "workflow", "status", wid, env=bug)
    assert done.returncode == 70 and "Traceback" not in done.stderr and "╭" not in done.stderr, done.stderr
    assert "internal error: ValueError: planted launcher bug" in done.stderr and "launcher bug" in done.stderr
    saved = sorted((wf_repo / ".launcher" / "internal-errors").iterdir())
    assert len(saved) == 1 and str(saved[0]) in done.stderr
    assert "Traceback" in saved[0].read_text() and "_planted_bug" in saved[0].read_text()
    as_json = launcher_cli(wf_repo, "workflow", "status", wid, "--json", env=bug)
    envelope = json.loads(as_json.stdout)
    assert as_json.returncode == 70 and envelope["ok"] is False and envelope["error_key"] == "internal"
    debug = launcher_cli(wf_repo, "workflow", "status", wid, env={**bug, "LAUNCHER_DEBUG": "1"})
    assert debug.returncode == 70 and "Traceback" in debug.stderr


# 14 ------------------------------------------------------------------------------------------

def test_workflow_status_shows_the_notes_of_each_phase_run(wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    from launcher.git.worktrees import default_worktree_root
    from tests.test_worktrees import open_repo
    write_files(wf_repo, {"workflows/one.toml": ONE_PHASE})
    git(wf_repo, "add", "-A")
    git(wf_repo, "commit", "-q", "-m", "one phase")
    # An earlier run's worktree whose directory vanished: the phase's run forgets it, with a note.
    vanished = default_worktree_root(open_repo(wf_repo), None) / "r-old" / "gone"
    git(wf_repo, "worktree", "add", "-q", "-b", "launcher/r-old/gone", str(vanished))
    shutil.rmtree(vanished)
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps({"test-tester": [{"write": "tests/test_new.py", "content": "# new\n"}]}))
    made = launcher_cli(wf_repo, "workflow", "start", "one", "--json", "--quiet", "--scripts", str(scripts))
    state = json.loads(made.stdout)
    phase = state["phases"][0]
    assert phase["status"] == "succeeded", phase
    run_notes = json.loads(launcher_cli(wf_repo, "status", phase["run_id"], "--json").stdout)["notes"]
    assert any(str(vanished) in n["message"] for n in run_notes)
    assert phase["notes"] == [n["message"] for n in run_notes]
    shown = launcher_cli(wf_repo, "workflow", "status", state["id"])
    assert all(f"note: {note}" in shown.stdout for note in phase["notes"])
