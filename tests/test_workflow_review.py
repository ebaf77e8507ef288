"""Review of workflows and `launcher mcp`: a crashed background runner, detached resume, cancel,
zombies, braces in prompts, write errors, MCP argument errors, parked phases, template errors and
phases that produced nothing. Real repositories, the real CLI and the MCP server over stdio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.app.workflow import engine
from launcher.app.workflow.session import WorkflowSession
from tests.conftest import git, write_files
from tests.helpers import launcher_cli
from tests.test_workflows import _create, _scripts, wf_repo  # noqa: F401  (the fixture)

mcp = pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


@asynccontextmanager
async def _server(repo: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "launcher", "mcp"], cwd=str(repo),
                                   env=_env())
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def _call(session: ClientSession, arguments: dict[str, Any]) -> Any:
    result = await session.call_tool("orchestrator", arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    try:
        return json.loads(text)
    except ValueError:
        return {"raw": text}


def _state(repo: Path, wid: str) -> dict[str, Any]:
    return json.loads((repo / ".launcher" / "workflows" / wid / "state.json").read_text())


def _wait_file(path: Path, limit: float = 60) -> None:
    deadline = time.time() + limit
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert path.exists(), path


def _hold(started: Path, release: Path) -> list[dict[str, Any]]:
    """Scripted steps: say it started, then wait until `release` exists."""
    code = (f"import os, time; open({str(started)!r}, 'w').close(); "
            f"[time.sleep(0.05) for _ in range(2400) if not os.path.exists({str(release)!r})]")
    return [{"run": [sys.executable, "-c", code]}]


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _kill_runner(pid: int | None) -> None:
    if pid:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, 9)


# 1 -------------------------------------------------------------------------------------------

def test_mcp_start_refuses_scripts_that_are_not_an_object_of_step_lists(wf_repo: Path) -> None:  # noqa: F811
    async def scenario() -> None:
        async with _server(wf_repo) as session:
            for scripts in ("x", {"plan-architect": "notalist"}, {"plan-architect": [{"fly": 1}]},
                            {"nobody": [{"say": "hi"}]}):
                got = await _call(session, {"action": "start", "workflow": "mini", "params": {"what": "mul"},
                                            "options": {"scripts": scripts}})
                assert got.get("ok") is False and "scripts" in got["observations"], (scripts, got)
            listed = await _call(session, {"action": "list", "options": {"all": True}})
            assert listed["result"] == []  # nothing was created, no runner was started

    anyio.run(scenario)


def test_cli_start_refuses_a_scripts_file_with_a_bad_entry_before_creating_anything(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"plan-architect": "x"}))
    done = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", "what=mul", "--no-run",
                        "--scripts", str(bad))
    assert done.returncode == 2 and "plan-architect" in done.stderr and "Traceback" not in done.stderr
    assert launcher_cli(wf_repo, "workflow", "list", "--json").stdout.strip() == "[]"


def _dead_runner(repo: Path, wid: str, *, status: str) -> int:
    """A runner that printed a traceback and died; the state still names it."""
    log = repo / ".launcher" / "workflows" / wid / "runner.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", "raise RuntimeError('runner exploded here')"],
                                stdout=out, stderr=subprocess.STDOUT)
    proc.wait()

    async def mark() -> None:
        session = await WorkflowSession.open(repo)

        def change(state: engine.WorkflowState) -> None:
            state.runner_pid = proc.pid
            state.status = engine.WorkflowStatus(status)
            state.message = f"the next phase runs in process {proc.pid}; `status` shows its progress"

        session.update(wid, change)

    anyio.run(mark)
    return proc.pid


def test_status_and_list_report_a_runner_that_died_before_its_phase_ran_as_failed_with_its_log(
        wf_repo: Path) -> None:  # noqa: F811
    wid = _create(wf_repo, _scripts(wf_repo))
    _dead_runner(wf_repo, wid, status="ready")
    shown = launcher_cli(wf_repo, "workflow", "status", wid, "--json")
    data = json.loads(shown.stdout)
    assert data["status"] != "ready" and data["runner_pid"] is None, data
    assert data["phases"][0]["status"] == "failed"
    assert "runner exploded here" in data["message"] and "runs in process" not in data["message"]
    assert any("--retry-failed" in o for o in data["offers"])
    listed = json.loads(launcher_cli(wf_repo, "workflow", "list", "--json").stdout)
    assert listed[0]["status"] == data["status"]


def test_status_shows_the_log_tail_of_a_runner_that_died_mid_phase(wf_repo: Path) -> None:  # noqa: F811
    wid = _create(wf_repo, _scripts(wf_repo))

    async def running() -> None:
        session = await WorkflowSession.open(wf_repo)

        def change(state: engine.WorkflowState) -> None:
            state.phase("plan").status = engine.PhaseStatus.RUNNING
            state.phase("plan").run_id = "r_missing"

        session.update(wid, change)

    anyio.run(running)
    _dead_runner(wf_repo, wid, status="running")
    data = json.loads(launcher_cli(wf_repo, "workflow", "status", wid, "--json").stdout)
    assert data["interrupted"] is True and "runner exploded here" in data["message"]
    assert f"launcher workflow resume {wid}" in data["offers"]


# 2 -------------------------------------------------------------------------------------------

def test_mcp_resume_runs_detached_returns_at_once_and_refuses_a_second_resume(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    started, release = tmp_path / "started", tmp_path / "release"
    wid = _create(wf_repo, _scripts(wf_repo, **{"plan-architect": [
        *_hold(started, release), *_scripts(wf_repo)["plan-architect"]]}))
    runner = subprocess.Popen([sys.executable, "-m", "launcher", "workflow", "next", wid, "--quiet"], cwd=wf_repo,
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    _wait_file(started)
    os.killpg(runner.pid, 9)
    runner.wait()
    started.unlink()
    pid: int | None = None

    async def scenario() -> None:
        nonlocal pid
        async with _server(wf_repo) as session:
            began = time.monotonic()
            first = await _call(session, {"action": "resume", "workflowId": wid})
            assert first.get("ok") is True, first
            assert time.monotonic() - began < 5
            pid = first["result"]["runner_pid"]
            assert pid and first["result"]["interrupted"] is False
            await anyio.to_thread.run_sync(_wait_file, started)
            during = (await _call(session, {"action": "status", "workflowId": wid}))["result"]
            assert during["interrupted"] is False and during["runner_pid"] == pid
            assert not any("resume" in o for o in during["offers"])
            second = await _call(session, {"action": "resume", "workflowId": wid})
            assert second.get("ok") is False and str(pid) in second["observations"], second
            release.write_text("")
            for _ in range(600):
                during = (await _call(session, {"action": "status", "workflowId": wid}))["result"]
                if during["status"] == "waiting_checkpoint":
                    break
                await anyio.sleep(0.1)
            assert during["status"] == "waiting_checkpoint", during

    try:
        anyio.run(scenario)
    finally:
        release.write_text("")
        _kill_runner(pid)
    assert "mul first." in git(wf_repo, "show", "main:docs/plan.md")


def test_runner_alive_counts_the_current_process_as_alive() -> None:
    state = engine.WorkflowState(id="w", template="t", runner_pid=os.getpid())
    assert engine.runner_alive(state) is True


@pytest.mark.parametrize("recorded", ["other_start", "no_start"])
def test_a_dead_runners_pid_reused_by_another_process_is_not_taken_for_the_runner(
        wf_repo: Path, recorded: str) -> None:  # noqa: F811
    """The kernel gave the dead runner's pid to an unrelated process (here a live `sleep`): the
    runner is seen dead (its phase, which had not begun a run, failed; the operator is offered a
    retry), not "has a runner already" for ever."""
    wid = _create(wf_repo, _scripts(wf_repo))
    squatter = subprocess.Popen(["sleep", "60"], stdin=subprocess.DEVNULL)
    try:
        async def mark() -> None:
            session = await WorkflowSession.open(wf_repo)

            def change(state: engine.WorkflowState) -> None:
                state.status, state.runner_pid = engine.WorkflowStatus.RUNNING, squatter.pid
                state.runner_started = None if recorded == "no_start" else 1  # started at boot: not the sleep
                state.phases[0].status = engine.PhaseStatus.RUNNING

            session.update(wid, change)

        anyio.run(mark)
        shown = json.loads(launcher_cli(wf_repo, "workflow", "status", wid, "--json").stdout)
        assert shown["status"] == "paused" and shown["runner_pid"] is None, shown
        assert f"the runner (process {squatter.pid}) exited" in shown["message"], shown
        assert f"launcher workflow resume {wid} --retry-failed" in shown["offers"], shown
        assert squatter.poll() is None  # nobody signalled the unrelated process
    finally:
        squatter.kill()
        squatter.wait()


# 3 -------------------------------------------------------------------------------------------

def test_cancel_kills_the_runner_ends_the_run_and_removes_its_worktrees(wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    started, release = tmp_path / "started", tmp_path / "release"
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps(_scripts(wf_repo, **{"plan-architect": [
        *_hold(started, release), {"write": "docs/cancelled.md", "content": "should never land\n"}]})))
    made = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", "what=mul", "--detach", "--json",
                        "--scripts", str(scripts))
    assert made.returncode == 0, made.stderr
    wid = json.loads(made.stdout)["id"]
    runner = json.loads(made.stdout)["runner_pid"]
    try:
        _wait_file(started)
        run_id = _state(wf_repo, wid)["phases"][0]["run_id"]
        assert run_id
        done = launcher_cli(wf_repo, "workflow", "cancel", wid, "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["status"] == "cancelled"
        assert not os.path.exists(f"/proc/{runner}") or _zombie(runner)
        log = (wf_repo / ".launcher" / "workflows" / wid / "runner.log").read_text()
        assert "cancel" in log.splitlines()[-1] and f"workflow resume {wid}` continues" not in log
        release.write_text("")
        again = launcher_cli(wf_repo, "resume", run_id, timeout=60)
        assert "docs/cancelled.md" not in git(wf_repo, "ls-tree", "-r", "--name-only", "main"), again.stdout
        assert git(wf_repo, "branch", "--list", f"launcher/{run_id}/*").strip() == ""
        trees = git(wf_repo, "worktree", "list", "--porcelain")
        assert run_id not in trees
    finally:
        release.write_text("")
        _kill_runner(runner)


# 4 -------------------------------------------------------------------------------------------

def test_a_finished_detached_runner_is_reaped_without_another_tool_call(wf_repo: Path) -> None:  # noqa: F811
    pid: int | None = None

    async def scenario() -> None:
        nonlocal pid
        async with _server(wf_repo) as session:
            started = await _call(session, {"action": "start", "workflow": "mini", "params": {"what": "mul"},
                                            "options": {"scripts": _scripts(wf_repo)}})
            pid = started["result"]["runner_pid"]
            wid = started["result"]["workflowId"]
            for _ in range(600):
                if _zombie(pid) or not os.path.exists(f"/proc/{pid}"):
                    break  # the runner has exited
                await anyio.sleep(0.1)
            assert _state(wf_repo, wid)["status"] == "waiting_checkpoint"
            await anyio.sleep(3)  # no tool call meanwhile
            assert not _zombie(pid), "the finished runner stays a zombie of the server"

    try:
        anyio.run(scenario)
    finally:
        _kill_runner(pid)


# 5 -------------------------------------------------------------------------------------------

BRACES = '''name = "braces"
[parameters.what]
required = true
[[phase]]
id = "one"
checks = ["python3 -c 'print({1: 2})'"]
[[phase.primary]]
role = "coder"
prompt = "dict {\\"k\\": 1} and {0} and {a.b} and {what} and {} and {unknown}"
'''


def test_literal_braces_in_a_template_prompt_render_and_run(wf_repo: Path) -> None:  # noqa: F811
    write_files(wf_repo, {"workflows/braces.toml": BRACES})
    shown = launcher_cli(wf_repo, "workflow", "plan", "x", "--workflow", "braces", "--json")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    task = json.loads(shown.stdout)["run_plan"]["task"][0]
    assert task["prompt"] == 'dict {"k": 1} and {0} and {a.b} and x and {} and {unknown}'
    assert task["checks"] == ["python3 -c 'print({1: 2})'"]
    scripts = Path(wf_repo.parent / "s.json")
    scripts.write_text(json.dumps({"coder": [{"write": "b.txt", "content": "b\n"}]}))
    ran = launcher_cli(wf_repo, "workflow", "start", "braces", "--param", "what=x", "--quiet", "--json",
                       "--scripts", str(scripts))
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr
    assert json.loads(ran.stdout)["status"] == "completed"


# 6 -------------------------------------------------------------------------------------------

def test_plan_write_to_an_unwritable_path_is_a_structured_error_on_cli_and_mcp(wf_repo: Path) -> None:  # noqa: F811
    done = launcher_cli(wf_repo, "workflow", "plan", "x", "--write", "/proc/nope/p.json")
    assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout
    assert "/proc/nope/p.json" in done.stderr and "Fix:" in done.stderr

    async def scenario() -> None:
        async with _server(wf_repo) as session:
            got = await _call(session, {"action": "plan", "context": "x", "options": {"write": "/proc/nope/p.json"}})
            assert got.get("ok") is False and "/proc/nope/p.json" in got["observations"] and got["usage"], got

    anyio.run(scenario)


# 7 -------------------------------------------------------------------------------------------

def test_mcp_argument_errors_come_back_as_envelopes_and_recommend_limits_match_the_cli(
        wf_repo: Path) -> None:  # noqa: F811
    cases = [{}, {"action": 5}, {"action": "status", "workflowId": 123}, {"action": "recommend", "limit": "abc"},
             {"action": "recommend", "limit": 0}, {"action": "recommend", "limit": True},
             {"action": "start", "workflow": "mini", "params": ["what"]},
             {"action": "start", "workflow": "mini", "params": {"what": {"a": 1}}},
             {"action": "plan", "context": "x", "options": "x"}, {"action": "analyze", "context": ["x"]}]

    async def scenario() -> None:
        async with _server(wf_repo) as session:
            for args in cases:
                got = await _call(session, args)
                assert got.get("ok") is False and got.get("error_key") and got.get("usage"), (args, got)
            zero = await _call(session, {"action": "recommend", "limit": 0})
            cli = launcher_cli(wf_repo, "workflow", "recommend", "--limit", "0", "--json")
            assert cli.returncode == 2
            assert json.loads(cli.stdout.strip().splitlines()[-1]) == zero
            one = await _call(session, {"action": "recommend", "limit": 1})
            assert one["ok"] and len(one["result"]) == 1

    anyio.run(scenario)


# 8 -------------------------------------------------------------------------------------------

def test_a_parked_phase_says_what_to_run_and_resume_takes_it_after_the_merge(wf_repo: Path) -> None:  # noqa: F811
    wid = _create(wf_repo, _scripts(wf_repo))
    (wf_repo / "README.md").write_text("# sample\nlocal edit\n")  # the main work tree has local changes
    done = launcher_cli(wf_repo, "workflow", "next", wid, "--json", "--quiet")
    data = json.loads(done.stdout)
    plan = data["phases"][0]
    assert plan["status"] != "succeeded" and data["status"] == "paused"
    assert all(t["state"] != "merged" for t in plan["tasks"]), plan["tasks"]
    branch = next(t for t in plan["tasks"])["state"].split(" on ", 1)[-1]
    assert f"git merge --ff-only {branch}" in data["message"] and f"launcher workflow resume {wid}" in data["message"]
    assert not data["offers"][0].endswith("--retry-failed")
    early = launcher_cli(wf_repo, "workflow", "resume", wid)
    assert early.returncode == 2 and f"git merge --ff-only {branch}" in early.stderr  # not merged yet
    git(wf_repo, "stash")
    git(wf_repo, "merge", "--ff-only", branch)
    resumed = launcher_cli(wf_repo, "workflow", "resume", wid, "--json")
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads(resumed.stdout)
    assert after["phases"][0]["status"] == "succeeded" and after["status"] == "waiting_checkpoint"
    assert "mul first." in (wf_repo / ".launcher" / "workflows" / wid / "plan.md").read_text()


# 9 -------------------------------------------------------------------------------------------

def test_a_template_error_names_the_file_without_an_empty_key_or_a_pydantic_prefix(wf_repo: Path) -> None:  # noqa: F811
    write_files(wf_repo, {"workflows/a.toml": 'name = "a"\n[[phase]]\nid = "x"\n[[phase.primary]]\nrole = "r"\n'
                                              'prompt = "p"\n[[phase]]\nid = "x"\n[[phase.primary]]\nrole = "r"\n'
                                              'prompt = "p"\n'})
    done = launcher_cli(wf_repo, "workflow", "workflows")
    assert done.returncode == 2
    assert "workflows/a.toml: phase ids repeat" in done.stderr, done.stderr
    assert "Value error" not in done.stderr and ": :" not in done.stderr


def test_a_phase_whose_agents_all_did_nothing_is_not_reported_as_succeeded(wf_repo: Path) -> None:  # noqa: F811
    wid = _create(wf_repo, _scripts(wf_repo, **{"plan-architect": [{"say": "nothing to do"}]}))
    done = launcher_cli(wf_repo, "workflow", "next", wid, "--json", "--quiet")
    data = json.loads(done.stdout)
    assert data["phases"][0]["status"] != "succeeded" and data["status"] != "waiting_checkpoint", data
    assert "nothing" in data["message"] and "checkpoint" not in data["message"]


# 12 ------------------------------------------------------------------------------------------

def _rpc_lines(proc: subprocess.Popen[bytes], count: int, limit: float = 60) -> list[dict[str, Any]]:
    """The server's next `count` replies (a select loop: a reply that never comes fails the test)."""
    import select
    assert proc.stdout is not None
    replies: list[dict[str, Any]] = []
    deadline = time.time() + limit
    buffered = b""
    while len(replies) < count:
        left = deadline - time.time()
        assert left > 0, f"no reply from the MCP server after {limit}s; got {replies}"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"the server closed its output; got {replies}"
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                replies.append(json.loads(line))
    return replies


def test_mcp_answers_a_lone_surrogate_or_bytes_that_are_not_utf8_with_an_envelope_naming_the_argument(
        wf_repo: Path) -> None:  # noqa: F811
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "mcp"], cwd=wf_repo, env=_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None
    call = ('{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"orchestrator",'
            '"arguments":{"action":"analyze","context":%s}}}\n')
    try:
        proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26",'
                         b'"capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}\n')
        proc.stdin.flush()
        assert _rpc_lines(proc, 1)[0]["id"] == 1
        proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        proc.stdin.write((call % (2, '"caf\\udce9 au lait"')).encode())
        proc.stdin.write((call % (3, '"caf\xe9"')).encode("latin-1"))  # a raw 0xE9 byte: not UTF-8
        proc.stdin.write((call % (4, '"caf\\u00e9 \\ud83d\\ude00"')).encode())  # valid: é and a pair
        proc.stdin.flush()
        replies = {r["id"]: r for r in _rpc_lines(proc, 3)}
        for rid in (2, 3):
            envelope = json.loads(replies[rid]["result"]["content"][0]["text"])
            assert envelope["ok"] is False and envelope["error_key"] == "usage:context", envelope
            assert "context is not valid Unicode" in envelope["observations"]
        fine = json.loads(replies[4]["result"]["content"][0]["text"])
        assert fine["ok"] is True, fine
    finally:
        proc.kill()
        proc.wait()


def test_retries_of_a_failed_phase_within_one_second_each_keep_their_attempt(repo: Path) -> None:
    # `launcher demo --workflow` retries in one process: the retries' labels (kept ref, usage
    # keys, artifacts folder) were the wall-clock second, so the second retry crashed and had
    # already overwritten the first attempt's kept ref.
    write_files(repo, {"workflows/mini.toml": 'name = "mini"\n[[phase]]\nid = "one"\n'
                                              '[[phase.primary]]\nrole = "dev"\nprompt = "do it"\n',
                       "launcher.toml": '[roles]\ndefault = "scripted"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "workflow")
    scripts = {"one-dev": [{"run": [sys.executable, "-c", "import time; open(f'f{time.time_ns()}.txt', 'w')"]},
                           {"commit": "attempt"}, {"exit": 1}]}

    async def scenario() -> engine.WorkflowState:
        state = await engine.create(repo, "mini", {}, {"scripts": scripts})
        state = await engine.run_next(repo, state.id, lambda _e: None)
        for _ in range(3):
            assert state.status.value == "paused", state.message
            state = await engine.resume(repo, state.id, lambda _e: None, retry_failed=True)
        return state

    state = anyio.run(scenario)
    assert state.status.value == "paused", state.message
    kept = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/launcher").split("\n")
    kept = [line for line in kept if "/failed-" in line]
    assert len(kept) == 3 and len({line.split()[1] for line in kept}) == 3, kept  # three attempts, three commits


def test_a_phase_whose_tasks_pass_alone_but_break_its_checks_together_does_not_succeed(repo: Path) -> None:
    # The phase's checks are the step's integration check: the target never moves to a tree
    # that fails them, and the phase is not recorded succeeded over it.
    write_files(repo, {
        "workflows/pair.toml": 'name = "pair"\n[[phase]]\nid = "build"\n'
                               'checks = ["test ! -f a.txt || test ! -f b.txt"]\n'
                               '[[phase.primary]]\nrole = "one"\nprompt = "a"\n'
                               '[[phase.primary]]\nrole = "two"\nprompt = "b"\n',
        "launcher.toml": '[roles]\ndefault = "scripted"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "workflow")
    scripts = {"build-one": [{"write": "a.txt", "content": "a\n"}],
               "build-two": [{"write": "b.txt", "content": "b\n"}]}

    async def scenario() -> engine.WorkflowState:
        state = await engine.create(repo, "pair", {}, {"scripts": scripts})
        return await engine.run_next(repo, state.id, lambda _e: None)

    state = anyio.run(scenario)
    assert state.status.value == "paused" and state.phase("build").status.value == "failed", state.message
    landed = git(repo, "ls-tree", "--name-only", "main").split()
    assert not ("a.txt" in landed and "b.txt" in landed), landed  # main passes the phase's check


def test_status_shows_a_running_phases_tasks_as_they_go(wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    # The progress an MCP client polls: the phase's tasks and their states while it runs.
    started, release = tmp_path / "started", tmp_path / "release"
    wid = _create(wf_repo, _scripts(wf_repo, **{"plan-architect": [
        *_hold(started, release), *_scripts(wf_repo)["plan-architect"]]}))
    runner = subprocess.Popen([sys.executable, "-m", "launcher", "workflow", "next", wid, "--quiet"], cwd=wf_repo,
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        _wait_file(started)
        during = json.loads(launcher_cli(wf_repo, "workflow", "status", wid, "--json").stdout)
        (phase,) = [p for p in during["phases"] if p["status"] == "running"]
        assert [(t["id"], t["state"], t["role"]) for t in phase["tasks"]] == [
            ("plan-architect", "running", "architect")], phase
        assert phase["tasks"][0]["agent"] == "scripted"
        release.write_text("")
        assert runner.wait(timeout=120) == 0
    finally:
        release.write_text("")
        _kill_runner(runner.pid)


def test_a_missing_parameter_says_how_to_pass_it_on_the_command_line_and_over_mcp(
        wf_repo: Path) -> None:  # noqa: F811
    async def scenario() -> None:
        async with _server(wf_repo) as session:
            got = await _call(session, {"action": "start", "workflow": "mini", "params": {}})
            assert got.get("ok") is False and got["error_key"] == "workflow_param_missing", got
            assert '`params: {"what": VALUE}` over MCP' in got["usage"] and "--param what=VALUE" in got["usage"]

    anyio.run(scenario)


def test_a_phase_check_ending_in_a_comment_joins_the_steps_check_without_breaking_it(tmp_path: Path) -> None:
    from launcher.app.workflow.planner import step_integration_check
    from launcher.models.config import RepoConfig
    from launcher.models.workflow import Phase
    config = RepoConfig.model_validate({"merge": {"integration_check": "true  # the repository's own"}})
    phase = Phase.model_validate({"id": "p", "checks": ["test -d .  # a phase check"],
                                  "primary": [{"role": "dev", "prompt": "x"}]})
    check = step_integration_check([phase], {}, config, [])
    assert check is not None
    done = subprocess.run(["sh", "-c", check], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, (check, done.stderr)
    failing = Phase.model_validate({"id": "q", "checks": ["false  # fails"],
                                    "primary": [{"role": "dev", "prompt": "x"}]})
    assert subprocess.run(["sh", "-c", step_integration_check([phase, failing], {}, config, []) or ""],
                          cwd=tmp_path).returncode != 0


def test_status_during_a_retry_shows_the_retry_s_tasks_not_the_failed_attempt_s(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    flag, started, release = tmp_path / "failed-once", tmp_path / "started", tmp_path / "release"
    code = (f"import os, sys, time\nif not os.path.exists({str(flag)!r}):\n    open({str(flag)!r}, 'w').close()\n"
            f"    sys.exit(1)\nopen({str(started)!r}, 'w').close()\n"
            f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.05)\n")
    wid = _create(wf_repo, _scripts(wf_repo, **{"plan-architect": [
        {"run": [sys.executable, "-c", code]}, *_scripts(wf_repo)["plan-architect"]]}))
    first = launcher_cli(wf_repo, "workflow", "next", wid, "--json")
    assert json.loads(first.stdout)["status"] == "paused", first.stdout[-1500:]
    runner = subprocess.Popen([sys.executable, "-m", "launcher", "workflow", "resume", wid, "--retry-failed",
                               "--quiet"], cwd=wf_repo, env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_file(started)
        during = json.loads(launcher_cli(wf_repo, "workflow", "status", wid, "--json").stdout)
        (phase,) = [p for p in during["phases"] if p["status"] == "running"]
        assert [t["state"] for t in phase["tasks"]] == ["running"], phase
        release.write_text("")
        assert runner.wait(timeout=120) == 0
    finally:
        release.write_text("")
        _kill_runner(runner.pid)
