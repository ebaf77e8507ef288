"""A path given to a workflow action (MCP `options.write`, `--write`, a scripted step's file) that
no file can have (a NUL character, empty, a folder that is a symlink loop) is a usage error naming
the argument: never `internal` ("a launcher bug") with a traceback. Real repositories, the real
CLI and the MCP server over stdio."""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from launcher.app.workflow import engine
from launcher.errors import UsageProblem
from tests.helpers import launcher_cli
from tests.test_workflow_review import _call, _server
from tests.test_workflows import _scripts, wf_repo  # noqa: F401  (the fixture)


def _internal_errors(repo: Path) -> list[Path]:
    folder = repo / ".launcher" / "internal-errors"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_mcp_plan_refuses_a_write_path_with_a_nul_or_no_name_as_a_usage_error(wf_repo: Path) -> None:  # noqa: F811
    async def scenario() -> list[dict[str, str]]:
        async with _server(wf_repo) as session:
            return [await _call(session, {"action": "plan", "context": "add an api", "options": {"write": path}})
                    for path in ("plan\u0000.json", "")]

    nul, empty = anyio.run(scenario)
    assert nul["ok"] is False and nul["error_key"] == "usage:write", nul
    assert "options.write" in nul["observations"] and "NUL" in nul["observations"], nul
    assert empty["ok"] is False and empty["error_key"] == "usage:write", empty
    assert _internal_errors(wf_repo) == []
    assert not list(wf_repo.glob("plan*"))


def test_plan_write_into_a_folder_that_is_a_symlink_loop_is_a_usage_error(wf_repo: Path) -> None:  # noqa: F811
    (wf_repo / "loop").symlink_to("loop")
    done = launcher_cli(wf_repo, "workflow", "plan", "x", "--workflow", "mini", "--write", "loop/plan.json", "--json")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    answer = json.loads(done.stdout)
    assert answer["error_key"] == "usage:write" and "loop/plan.json" in json.dumps(answer), answer
    assert _internal_errors(wf_repo) == []


def test_a_scripted_step_whose_file_path_holds_a_nul_is_refused_at_start(wf_repo: Path) -> None:  # noqa: F811
    for step in ({"write": "docs/p\u0000.md", "content": "x"}, {"delete": ""}, {"run": ["python3", "a\u0000"]}):
        scripts = _scripts(wf_repo, **{"plan-architect": [step]})
        try:
            anyio.run(engine.create, wf_repo, "mini", {"what": "mul"}, {"scripts": scripts})
        except UsageProblem as refused:
            assert refused.error_key == "workflow_scripts_invalid", refused.message
            assert "plan-architect" in str(refused.where) and "step 0" in refused.message, refused.message
        else:
            raise AssertionError(f"{step} was accepted")
    assert anyio.run(engine.listing, wf_repo) == []


def test_plan_write_refuses_the_launchers_own_state_and_leaves_the_journal_whole(wf_repo: Path) -> None:  # noqa: F811
    made = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", "what=mul", "--no-run", "--json",
                        "--scripts", str(_write_scripts(wf_repo)))
    wid = json.loads(made.stdout)["id"]
    journal = (wf_repo / ".launcher" / "launcher.db").read_bytes()
    state = wf_repo / ".launcher" / "workflows" / wid / "state.json"
    for path in (".launcher/launcher.db", f".launcher/workflows/{wid}/state.json", ".launcher/plan.json"):
        done = launcher_cli(wf_repo, "workflow", "plan", "add an api endpoint", "--write", path, "--overwrite")
        assert done.returncode == 2, (path, done.stdout, done.stderr)
        assert "inside the launcher's own state" in done.stderr, done.stderr

    async def scenario() -> dict[str, str]:
        async with _server(wf_repo) as session:
            options = {"write": "./.launcher/../.launcher/launcher.db", "overwrite": True}
            return await _call(session, {"action": "plan", "context": "add an api endpoint", "options": options})

    refused = anyio.run(scenario)
    assert refused["ok"] is False and refused["error_key"] == "usage:write", refused
    assert not (wf_repo / ".launcher" / "plan.json").exists()
    assert json.loads(state.read_text())["id"] == wid
    assert (wf_repo / ".launcher" / "launcher.db").read_bytes()[:16] == journal[:16] == b"SQLite format 3\0"
    shown = launcher_cli(wf_repo, "workflow", "status", wid)
    assert shown.returncode == 0 and "ready" in shown.stdout, shown.stderr


def _write_scripts(repo: Path) -> Path:
    path = repo.parent / "scripts.json"
    path.write_text(json.dumps(_scripts(repo)))
    return path
