"""Workflows (issue 14): templates, routing, phases as launcher runs, checkpoints, failure
paths (retry, skip, cancel), crash-and-resume, and the CLI."""

from __future__ import annotations

import json
import os
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
from launcher.app.workflow.planner import choose_template
from launcher.app.workflow.templates import load_templates
from launcher.models.workflow import PhaseStatus, WorkflowStatus
from tests.conftest import git, write_files
from tests.helpers import launcher_cli

MINI = '''name = "mini"
description = "a small test workflow"
keywords = ["mini"]
[parameters.what]
required = true
[[phase]]
id = "plan"
checkpoint = true
artifacts = ["plan.md"]
[[phase.primary]]
role = "architect"
prompt = "Plan {what}"
[[phase]]
id = "build"
artifacts = ["build/files.json", "build/log.md"]
[[phase.primary]]
role = "backend"
prompt = "Build {what}"
[[phase.primary]]
role = "frontend"
prompt = "Show {what}"
[[phase]]
id = "test"
checks = ["{test_command}"]
artifacts = ["test/results.json", "test/coverage.json"]
[[phase.primary]]
role = "tester"
prompt = "Test {what} with {test_command}"
'''
TEST_CMD = "python3 -m unittest discover -s tests -t . -q"


@pytest.fixture
def wf_repo(repo: Path) -> Path:
    write_files(repo, {
        "workflows/mini.toml": MINI,
        "launcher.toml": f'[roles]\ndefault = "scripted"\n[workflow]\ntest_command = "{TEST_CMD}"\n',
        "tests/__init__.py": "",
        "tests/test_app.py": "import unittest\n\nfrom app import add\n\n\nclass T(unittest.TestCase):\n"
                             "    def test_add(self):\n        self.assertEqual(add(1, 2), 3)\n",
    })
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "workflow setup")
    return repo


def _scripts(tmp: Path, **extra: Any) -> dict[str, Any]:
    scripts: dict[str, Any] = {
        "plan-architect": [{"write": "docs/plan.md", "content": "# Plan\n\nmul first.\n"}],
        "build-backend": [{"append": "app.py", "content": "\n\ndef mul(a, b):\n    return a * b\n"}],
        "build-frontend": [{"write": "web/index.html", "content": "<h1>calc</h1>\n"}],
        "test-tester": [{"write": "tests/test_mul.py", "content": (
            "import unittest\n\nfrom app import mul\n\n\nclass M(unittest.TestCase):\n"
            "    def test_mul(self):\n        self.assertEqual(mul(2, 3), 6)\n")}],
    }
    scripts.update(extra)
    return scripts


def _create(repo: Path, scripts: dict[str, Any]) -> str:
    state = anyio.run(engine.create, repo, "mini", {"what": "mul"}, {"scripts": scripts})
    return state.id


def _next(repo: Path, wid: str, **kw: Any) -> Any:
    return anyio.run(lambda: engine.run_next(repo, wid, lambda e: None, **kw))


def test_shipped_templates_load_and_a_repository_template_overrides_one(repo: Path) -> None:
    shipped = load_templates(None)
    assert {"feature-development", "database-migration", "security-audit", "performance-optimization",
            "launch", "fundraising", "growth", "enterprise"} <= set(shipped)
    fd = shipped["feature-development"]
    assert [p.id for p in fd.phases] == ["plan", "design", "implement", "test", "review"]
    assert [r.role for r in fd.phases[2].primary] == ["backend-expert", "frontend-expert"]
    assert shipped["launch"].category == "launch"
    overriding = MINI.replace('name = "mini"', 'name = "feature-development"')
    write_files(repo, {"workflows/feature-development.toml": overriding})
    mine = load_templates(repo)
    assert [p.id for p in mine["feature-development"].phases] == ["plan", "build", "test"]
    assert mine["feature-development"].source == "workflows/feature-development.toml"


def test_a_broken_repository_template_is_a_usage_error_naming_file_and_key(repo: Path) -> None:
    write_files(repo, {"workflows/bad.toml": 'name = "bad"\n[[phase]]\nid = "Bad Id"\n'
                                             '[[phase.primary]]\nrole = "x"\nprompt = "p"\n'})
    done = launcher_cli(repo, "workflow", "workflows")
    assert done.returncode == 2
    assert "workflows/bad.toml: phase.0.id" in done.stderr and "Traceback" not in done.stderr


def test_routing_a_security_context_picks_security_audit_and_an_unmatched_one_builds_a_custom_plan() -> None:
    templates = load_templates(None)
    chosen, ranked = choose_template("audit the login form for XSS and SQL injection vulnerabilities", templates, None)
    assert chosen.name == "security-audit" and ranked[0]["workflow"] == "security-audit"
    custom, _ = choose_template("tune the docker deploy pipeline and its monitoring", templates, None)
    assert custom.name == "custom"
    assert [r.role for r in custom.phases[0].primary] == ["devops-expert"]


def test_plan_cli_prints_json_and_writes_a_plan_launcher_run_accepts(wf_repo: Path) -> None:
    done = launcher_cli(wf_repo, "workflow", "plan", "build a mini thing", "--workflow", "mini", "--json",
                        "--write", "plan.json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [p["id"] for p in data["phases"]] == ["plan", "build", "test"]
    assert [r["role"] for r in data["phases"][1]["parallel_groups"][0]] == ["backend", "frontend"]
    tasks = json.loads((wf_repo / "plan.json").read_text())["task"]
    assert tasks[1]["depends_on"] == ["plan-architect"]
    assert tasks[3]["depends_on"] == ["build-backend", "build-frontend"]
    check = launcher_cli(wf_repo, "run", "plan.json", "--no-merge", "--json", timeout=60)
    assert check.returncode in (0, 1) and json.loads(check.stdout)["tasks"], check.stderr


def test_a_workflow_runs_every_phase_waits_at_its_checkpoint_and_writes_real_artifacts(wf_repo: Path) -> None:
    wid = _create(wf_repo, _scripts(wf_repo))
    assert wid.startswith("wf_")
    state = _next(wf_repo, wid)
    assert state.status is WorkflowStatus.WAITING_CHECKPOINT
    refused = launcher_cli(wf_repo, "workflow", "next", wid)
    assert refused.returncode == 2 and "checkpoint" in refused.stderr
    assert launcher_cli(wf_repo, "workflow", "checkpoint", wid, "--signal", "PR-7").returncode == 0
    state = _next(wf_repo, wid)  # build: backend and frontend in parallel, one run
    build = state.phase("build")
    assert build.status is PhaseStatus.SUCCEEDED
    assert {t["id"] for t in build.tasks} == {"build-backend", "build-frontend"}
    state = _next(wf_repo, wid)
    assert state.status is WorkflowStatus.COMPLETED
    folder = wf_repo / ".launcher" / "workflows" / wid
    files = json.loads((folder / "build/files.json").read_text())["files"]
    assert {"path": "app.py", "change": "modified"} in files
    assert {"path": "web/index.html", "change": "created"} in files
    results = json.loads((folder / "test/results.json").read_text())
    assert results["passed"] is True and results["counts"]["ran"] == 2  # test_add and the tester's test_mul
    coverage = json.loads((folder / "test/coverage.json").read_text())
    assert coverage["measured"] is True and coverage["files"]["app.py"] == 83.33  # sub() is untested
    assert "mul first." in (folder / "plan.md").read_text()  # the document the architect landed
    mirrored = json.loads((folder / "state.json").read_text())
    assert mirrored["status"] == "completed" and mirrored["checkpoints"][0]["signal"] == "PR-7"
    assert "def mul" in git(wf_repo, "show", "main:app.py")


def _gate(marker: Path) -> list[dict[str, Any]]:
    """A scripted step that fails until `marker` exists (a flaky service the operator fixes)."""
    code = f"import os, sys; sys.exit(0 if os.path.exists({str(marker)!r}) else 1)"
    return [{"run": [sys.executable, "-c", code]}]


def _through_build(repo: Path, scripts: dict[str, Any]) -> str:
    wid = _create(repo, scripts)
    _next(repo, wid)
    anyio.run(engine.record_checkpoint, repo, wid, "ok")
    return wid


def _paused_at_build(repo: Path, tmp_path: Path) -> tuple[str, Path, str, str]:
    """A workflow whose build phase failed and paused: (its id, its state file, the phase's run,
    the state file's text then)."""
    wid = _through_build(repo, _scripts(repo, **{"build-frontend": _gate(tmp_path / "fixed")}))
    state_file = repo / ".launcher" / "workflows" / wid / "state.json"
    paused = _next(repo, wid)
    assert paused.paused_on == "build"
    return wid, state_file, paused.phase("build").run_id, state_file.read_text()


def test_a_failed_phase_pauses_saves_its_error_and_retry_runs_it_again(wf_repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "fixed"
    wid = _through_build(wf_repo, _scripts(wf_repo, **{"build-frontend": _gate(marker)}))
    state = _next(wf_repo, wid)
    assert state.status is WorkflowStatus.PAUSED and state.paused_on == "build"
    error = json.loads((wf_repo / ".launcher/workflows" / wid / "build/error.json").read_text())
    assert error["tasks"] and any(t["id"] == "build-frontend" and t["state"] == "failed" for t in error["tasks"])
    shown = launcher_cli(wf_repo, "workflow", "status", wid)
    assert "--retry-failed" in shown.stdout and "--skip" in shown.stdout and "cancel" in shown.stdout
    assert launcher_cli(wf_repo, "workflow", "resume", wid).returncode == 2  # needs a choice
    marker.write_text("")
    done = launcher_cli(wf_repo, "workflow", "resume", wid, "--retry-failed", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "ready" and data["phases"][1]["status"] == "succeeded"


def test_skip_moves_past_a_failed_phase_and_cancel_ends_the_workflow(wf_repo: Path, tmp_path: Path) -> None:
    wid = _through_build(wf_repo, _scripts(wf_repo, **{"build-frontend": _gate(tmp_path / "never")}))
    assert _next(wf_repo, wid).status is WorkflowStatus.PAUSED
    state = _next(wf_repo, wid, skip=True)
    assert state.phase("build").status is PhaseStatus.SKIPPED
    assert state.phase("test").status is PhaseStatus.SUCCEEDED and state.status is WorkflowStatus.COMPLETED

    other = _through_build(wf_repo, _scripts(wf_repo, **{
        "plan-architect": [{"write": "docs/plan.md", "content": "# Plan 2\n"}],
        "build-frontend": _gate(tmp_path / "never")}))
    _next(wf_repo, other)
    done = launcher_cli(wf_repo, "workflow", "cancel", other, "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "cancelled"
    listed = launcher_cli(wf_repo, "workflow", "list", "--json")
    assert other not in listed.stdout and wid not in listed.stdout


def test_pause_and_resume_from_the_cli(wf_repo: Path, tmp_path: Path) -> None:
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps(_scripts(wf_repo)))
    made = launcher_cli(wf_repo, "workflow", "start", "mini", "--param", "what=mul", "--no-run", "--json",
                        "--scripts", str(scripts))
    wid = json.loads(made.stdout)["id"]
    assert json.loads(launcher_cli(wf_repo, "workflow", "pause", wid, "--json").stdout)["status"] == "paused"
    assert launcher_cli(wf_repo, "workflow", "next", wid).returncode == 2
    assert json.loads(launcher_cli(wf_repo, "workflow", "resume", wid, "--json").stdout)["status"] == "ready"
    ran = launcher_cli(wf_repo, "workflow", "next", wid, "--json")
    assert ran.returncode == 0 and json.loads(ran.stdout)["status"] == "waiting_checkpoint"
    missing = launcher_cli(wf_repo, "workflow", "start", "mini")
    assert missing.returncode == 2 and "--param what=VALUE" in missing.stderr


def _task_state(repo: Path, task_id: str) -> str | None:
    db = sqlite3.connect(repo / ".launcher" / "launcher.db")
    try:
        row = db.execute("SELECT state FROM tasks WHERE task_id=? ORDER BY rowid DESC", (task_id,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def test_kill_9_mid_phase_then_resume_repeats_no_finished_phase_or_task(wf_repo: Path, tmp_path: Path) -> None:
    counter, release = tmp_path / "backend-runs", tmp_path / "release"
    count = f"open({str(counter)!r}, 'a').write('x')"
    wait = f"import os, time; [time.sleep(0.1) for _ in range(300) if not os.path.exists({str(release)!r})]"
    wid = _through_build(wf_repo, _scripts(wf_repo, **{
        "build-backend": [{"run": [sys.executable, "-c", count]}, *_scripts(wf_repo)["build-backend"]],
        "build-frontend": [{"run": [sys.executable, "-c", wait]}, *_scripts(wf_repo)["build-frontend"]],
    }))
    plan_run = anyio.run(engine.status, wf_repo, wid).phase("plan").run_id
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    runner = subprocess.Popen([sys.executable, "-m", "launcher", "workflow", "next", wid, "--quiet"], cwd=wf_repo,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 30
    while _task_state(wf_repo, "build-backend") not in ("approved", "merged") and time.time() < deadline:
        time.sleep(0.1)
    assert _task_state(wf_repo, "build-backend") == "approved"
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    status = json.loads(launcher_cli(wf_repo, "workflow", "status", wid, "--json").stdout)
    assert status["interrupted"] is True and f"launcher workflow resume {wid}" in status["offers"]
    assert launcher_cli(wf_repo, "workflow", "next", wid).returncode == 2
    release.write_text("")
    done = launcher_cli(wf_repo, "workflow", "resume", wid, "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["phases"][1]["status"] == "succeeded" and data["phases"][0]["run_id"] == plan_run
    assert counter.read_text() == "x"  # the finished backend round was not run again
    assert "def mul" in git(wf_repo, "show", "main:app.py")


def test_demo_workflow_runs_feature_development_with_a_checkpoint_and_a_retried_failure(tmp_path: Path) -> None:
    # `--where` relative to the current directory, as a user types it
    done = launcher_cli(tmp_path, "demo", "--workflow", "--json", "--where", "demo", timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "completed" and data["checkpoints"][0]["signal"] == "plan-approved"
    assert "phase test failed and paused the workflow" in done.stderr
    assert {"plan.md", "design.md", "implement/files.json", "implement/log.md", "test/results.json",
            "test/coverage.json", "review/security.md", "review/quality.md"} <= set(data["artifacts_written"])
    implement = next(p for p in data["phases"] if p["id"] == "implement")
    assert {t["id"] for t in implement["tasks"]} == {"implement-backend-expert", "implement-frontend-expert"}
    assert not any(name.endswith(".lock") for name in data["artifacts_written"])  # what it wrote, not its lock
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["calc-repo"]  # nothing beside its repo
