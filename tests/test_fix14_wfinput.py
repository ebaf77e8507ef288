"""What a workflow takes in and hands on: the earlier phases' artifacts reach the next phase's
agents inside their worktree (and never land), a phase whose inputs are gone is refused, the
templates, `[roles]` and test command in the repository are checked where they are read, and the
commands that only watch or stop a workflow need no launcher.toml. Real repositories, the real
`launcher` CLI (and its MCP tool's dispatch) in subprocesses, the built-in scripted agent."""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.app.workflow import actions
from launcher.errors import UsageProblem
from tests.conftest import git, write_files
from tests.helpers import launcher_cli

TWO_PHASES = """name = "two"
[[phase]]
id = "plan"
artifacts = ["plan.md"]
[[phase.primary]]
role = "architect"
prompt = "plan it"
[[phase]]
id = "design"
artifacts = ["design.md"]
[[phase.primary]]
role = "designer"
prompt = "Design it. Earlier artifacts: {artifacts}"
"""
SCRIPTED = '[roles]\ndefault = "scripted"\n'


def _repo(repo: Path, files: dict[str, str]) -> Path:
    write_files(repo, {"launcher.toml": SCRIPTED, **files})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "workflow setup")
    return repo


def _json(done: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _scripts(repo: Path, scripts: dict[str, Any]) -> str:
    path = repo.parent / "scripts.json"
    path.write_text(json.dumps(scripts))
    return str(path)


def _state(repo: Path, wid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / ".launcher" / "workflows" / wid / "state.json").read_text())
    return data


def _started_two_phases(repo: Path) -> str:
    """Phase `plan` done (its plan.md written); phase `design` copies what it was handed."""
    _repo(repo, {"workflows/two.toml": TWO_PHASES})
    scripts = _scripts(repo, {
        "plan-architect": [{"write": "docs/plan.md", "content": "# Plan\nstep 1: the secret sauce\n"}],
        "design-designer": [{"run": ["cp", ".launcher-review/workflow/plan.md", "handed-plan.md"]}],
    })
    started = launcher_cli(repo, "workflow", "start", "two", "--json", "--quiet", "--scripts", scripts)
    assert started.returncode == 0, started.stderr
    return str(_json(started)["id"])


def test_the_next_phase_reads_the_earlier_artifacts_in_its_own_worktree_and_never_commits_them(repo: Path) -> None:
    wid = _started_two_phases(repo)
    done = launcher_cli(repo, "workflow", "next", wid, "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    assert _json(done)["phases"][1]["status"] == "succeeded"
    artifact = repo / ".launcher" / "workflows" / wid / "plan.md"
    # the agent (confined to its worktree, like every agent CLI) found the artifact there
    assert "the secret sauce" in artifact.read_text()
    assert (repo / "handed-plan.md").read_text() == artifact.read_text()
    run_id = _state(repo, wid)["phases"][1]["run_id"]
    prompt = (repo / ".launcher" / "runs" / run_id / "design-designer" / "prompt.md").read_text()
    assert ".launcher-review/workflow/plan.md" in prompt and str(artifact) not in prompt
    # the copy was the agent's input, never its work: nothing of it is on the target
    assert ".launcher-review" not in git(repo, "ls-tree", "-r", "--name-only", "main")


def test_a_phase_whose_earlier_artifact_is_gone_is_refused_changing_nothing(repo: Path) -> None:
    wid = _started_two_phases(repo)
    (repo / ".launcher" / "workflows" / wid / "plan.md").unlink()
    before = _state(repo, wid)
    done = launcher_cli(repo, "workflow", "next", wid, "--json", "--quiet")
    assert done.returncode == 2, done.stdout
    refused = _json(done)
    assert refused["error_key"] == "workflow_artifact_missing"
    assert "plan.md (of phase plan)" in refused["observations"]
    after = _state(repo, wid)
    assert after["status"] == before["status"] == "ready"
    assert after["phases"][1]["status"] == "pending" and after["phases"][1]["run_id"] is None


def test_next_with_a_credential_in_the_shared_git_config_is_refused_exit_3_changing_nothing(repo: Path) -> None:
    wid = _started_two_phases(repo)
    git(repo, "config", "remote.origin.url", "https://bob:hunter2hunter2@example.com/x.git")
    done = launcher_cli(repo, "workflow", "next", wid, "--json", "--quiet")
    assert done.returncode == 3, done.stdout
    assert _json(done)["error_key"] == "shared_git_credentials"
    state = _state(repo, wid)
    assert state["status"] == "ready" and state["phases"][1]["status"] == "pending"
    assert not (repo / ".launcher" / "workflows" / wid / "design" / "error.json").exists()


def test_an_app_toml_in_workflows_without_phase_tables_is_no_template(repo: Path) -> None:
    _repo(repo, {"workflows/deploy.toml": 'name = "deploy"\nphase = "beta"\nregion = "eu"\n'})
    listed = launcher_cli(repo, "workflow", "workflows", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "deploy" not in [t["name"] for t in json.loads(listed.stdout)]
    started = launcher_cli(repo, "workflow", "start", "feature-development", "--param", "feature=x", "--no-run")
    assert started.returncode == 0, started.stderr


_PHASE = '[[phase]]\nid = "{id}"\nartifacts = [{arts}]\n[[phase.primary]]\nrole = "{role}"\nprompt = "p"\n'


@pytest.mark.parametrize(("template", "where", "said"), [
    (_PHASE.format(id="p", arts='"state.json"', role="x"), "phase.0.artifacts.0", "keeps in its folder"),
    (_PHASE.format(id="p", arts='"x.md"', role="x") + _PHASE.format(id="q", arts='"p/error.json"', role="y"),
     "phase.1.artifacts.0", "keeps in its folder"),
    (_PHASE.format(id="p", arts='"notes.md"', role="x") + _PHASE.format(id="q", arts='"notes.md"', role="y"),
     "phase.1.artifacts.0", "is already written by phase 'p'"),
    (_PHASE.format(id="p", arts='{path = "r.md", role = "nobody"}', role="x"), "phase.0.artifacts.0",
     "'nobody', which is not a role of this phase (its roles: x)"),
])
def test_a_template_whose_artifacts_collide_or_document_no_role_is_refused(
    repo: Path, template: str, where: str, said: str
) -> None:
    _repo(repo, {"workflows/a.toml": 'name = "a"\n' + template})
    done = launcher_cli(repo, "workflow", "start", "a", "--no-run")
    assert done.returncode == 2
    assert f"workflows/a.toml: {where}" in done.stderr and said in done.stderr
    assert not (repo / ".launcher" / "workflows").exists() or not any((repo / ".launcher" / "workflows").iterdir())


def test_coverage_is_measured_when_the_test_command_ends_in_a_comment(repo: Path) -> None:
    command = f"{sys.executable} -m unittest discover -s tests -t . -q  # all unit tests"
    _repo(repo, {
        "workflows/one.toml": '''name = "one"
[[phase]]
id = "test"
artifacts = ["test/results.json", "test/coverage.json"]
[[phase.primary]]
role = "tester"
prompt = "test"
''',
        "launcher.toml": SCRIPTED + f'[workflow]\ntest_command = "{command}"\n',
        "tests/__init__.py": "",
        "tests/test_app.py": "import unittest\nfrom app import add\n\nclass T(unittest.TestCase):\n"
                             "    def test_add(self):\n        self.assertEqual(add(1, 2), 3)\n",
    })
    scripts = _scripts(repo, {"test-tester": [{"write": "notes.txt", "content": "tested\n"}]})
    done = launcher_cli(repo, "workflow", "start", "one", "--json", "--quiet", "--scripts", scripts, timeout=300)
    assert done.returncode == 0, done.stderr
    folder = repo / ".launcher" / "workflows" / _json(done)["id"] / "test"
    coverage = json.loads((folder / "coverage.json").read_text())
    assert coverage["measured"] is True, coverage
    assert coverage["tests_passed"] is True and coverage["percent_covered"] > 0


def test_a_misspelt_roles_key_is_refused_naming_the_role_it_meant(repo: Path) -> None:
    _repo(repo, {"launcher.toml": SCRIPTED + 'backend_expert = "codex"\n'})
    done = launcher_cli(repo, "workflow", "start", "feature-development", "--param", "feature=x", "--no-run")
    assert done.returncode == 2
    assert "[roles] backend_expert" in done.stderr and "did you mean `backend-expert`?" in done.stderr
    shown = launcher_cli(repo, "workflow", "workflow", "feature-development")
    assert shown.returncode == 0 and "backend_expert" in shown.stdout  # the view notes it
    right = _repo(repo, {"launcher.toml": SCRIPTED + 'backend-expert = "scripted"\n'})
    assert launcher_cli(right, "workflow", "start", "feature-development", "--param", "feature=x",
                        "--no-run").returncode == 0


def test_status_list_and_cancel_work_while_launcher_toml_does_not_parse(repo: Path) -> None:
    wid = _started_two_phases(repo)
    (repo / "launcher.toml").write_text('[roles\ndefault = "scripted"\n')  # mid-edit
    for args in (["status", wid], ["list"]):
        done = launcher_cli(repo, "workflow", *args)
        assert done.returncode == 0, (args, done.stderr)
    cancelled = launcher_cli(repo, "workflow", "cancel", wid, "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert _state(repo, wid)["status"] == "cancelled"
    refused = launcher_cli(repo, "workflow", "start", "two", "--no-run")  # what needs it still says so
    assert refused.returncode == 2 and "launcher.toml" in refused.stderr


def test_a_nul_in_the_test_command_is_a_config_error_naming_it(repo: Path) -> None:
    _repo(repo, {"launcher.toml": SCRIPTED + '[workflow]\ntest_command = "pytest\\u0000 -q"\n'})
    done = launcher_cli(repo, "workflow", "start", "feature-development", "--param", "feature=x", "--no-run",
                        "--json")
    assert done.returncode == 2, done.stdout
    refused = _json(done)
    assert refused["error_key"] == "plan_invalid:check_nul" and "[workflow] test_command" in refused["observations"]
    _repo(repo, {"launcher.toml": SCRIPTED})  # a command line cannot carry a NUL; MCP params can
    with pytest.raises(UsageProblem) as caught:
        anyio.run(partial(actions.dispatch, repo, "start", {
            "workflow": "feature-development", "params": {"feature": "x", "test_command": "pytest\0 -q"}},
            lambda _e: None, detach=False))
    assert caught.value.error_key == "plan_invalid:check_nul" and "params.test_command" in (caught.value.where or "")


def test_launcher_run_with_a_nul_in_its_integration_check_is_a_plan_error(repo: Path) -> None:
    _repo(repo, {})
    plan = repo.parent / "plan.toml"
    plan.write_text('[run]\nintegration_check = "pytest\\u0000 -q"\n[[task]]\nid = "a"\nagent = "scripted"\n'
                    'prompt = "x"\n')
    done = launcher_cli(repo, "run", str(plan), "--json", "--quiet")
    assert done.returncode == 2, done.stdout + done.stderr
    refused = _json(done)
    assert refused["error_key"] == "plan_invalid:check_nul" and "integration_check" in refused["observations"]


@pytest.mark.parametrize("step", [{"run": ["touch", "/tmp/x"]}, {"write": "../../escape.txt", "content": "x"},
                                  {"write": "/tmp/escape.txt", "content": "x"}])
def test_mcp_scripts_cannot_run_commands_nor_write_outside_the_worktree(repo: Path, step: dict[str, Any]) -> None:
    _repo(repo, {"workflows/two.toml": TWO_PHASES})
    with pytest.raises(UsageProblem) as caught:
        anyio.run(partial(actions.dispatch, repo, "start", {"workflow": "two", "options": {"scripts": {
            "plan-architect": [{"say": "hi"}, step]}}}, lambda _e: None, detach=True))
    assert caught.value.error_key == "workflow_scripts_invalid" and "[1]" in (caught.value.where or "")
    assert not (repo / ".launcher" / "workflows").exists() or not any((repo / ".launcher" / "workflows").iterdir())
