"""A file the user writes in an editor may start with a UTF-8 byte-order mark (Windows Notepad
and some editors save one). Every such file the launcher reads -- a plan in TOML, YAML or JSON,
launcher.toml, pyproject.toml's [tool.launcher], a workflow template, a rubric -- is read as the
editor shows it: the mark is dropped and the file works as it would without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import git, launcher_cli

import launcher

BOM = "\ufeff"
SHIPPED = Path(launcher.__file__).parent / "data"
TASK = {"id": "t1", "agent": "scripted", "prompt": "p", "script": [{"write": "x.txt", "content": "x\n"}]}
TOML_PLAN = '[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "p"\nscript = [{ write = "x.txt", content = "x\\n" }]\n'
PLANS = {
    "plan.toml": TOML_PLAN,
    "plan.yaml": "task:\n  - id: t1\n    agent: scripted\n    prompt: p\n    script:\n"
    '      - {write: x.txt, content: "x\\n"}\n',
    "plan.json": json.dumps({"task": [TASK]}),
}


def plain_repo(tmp_path: Path) -> Path:
    """A repository on main with one file and a git identity of its own."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    return repo


def _commit(repo: Path, name: str, text: str) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((BOM + text).encode("utf-8"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"add {name}")


def _runs(repo: Path, plan: str) -> None:
    ran = launcher_cli(repo, "run", plan, "--quiet")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (repo / "x.txt").read_text() == "x\n"  # landed


@pytest.mark.parametrize("name", list(PLANS))
def test_a_plan_saved_with_a_byte_order_mark_runs(name: str, tmp_path: Path) -> None:
    repo = plain_repo(tmp_path)
    _commit(repo, name, PLANS[name])
    _runs(repo, name)


@pytest.mark.parametrize("name", ["launcher.toml", "pyproject.toml"])
def test_a_repository_config_saved_with_a_byte_order_mark_is_read(name: str, tmp_path: Path) -> None:
    repo = plain_repo(tmp_path)
    table = "[tool.launcher]\n" if name == "pyproject.toml" else ""
    # Read, not skipped: its default agent is the one a task without `agent` gets.
    _commit(repo, name, f'{table}default_agent = "scripted"\n')
    _commit(repo, "plan.toml", TOML_PLAN.replace('agent = "scripted"\n', ""))
    _runs(repo, "plan.toml")


def test_a_workflow_template_saved_with_a_byte_order_mark_is_listed(tmp_path: Path) -> None:
    repo = plain_repo(tmp_path)
    shipped = (SHIPPED / "workflows" / "security-audit.toml").read_text(encoding="utf-8")
    _commit(repo, "workflows/bom-audit.toml", shipped.replace('name = "security-audit"', 'name = "bom-audit"', 1))

    listed = launcher_cli(repo, "workflow", "workflows")
    shown = launcher_cli(repo, "workflow", "workflow", "bom-audit")

    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "bom-audit" in listed.stdout
    assert shown.returncode == 0, shown.stdout + shown.stderr


def test_a_rubric_saved_with_a_byte_order_mark_grades(tmp_path: Path) -> None:
    repo = plain_repo(tmp_path)
    _commit(
        repo,
        "rubrics/backend.md",
        "---\nversion: 1\nname: backend\nextends: default\n---\n\n"
        "### B1. The file exists.\n\nThe task must create x.txt.\n\ncheck: test -f x.txt\n",
    )
    plan = {
        "run": {"grader": "judge", "iteration_cap": 1},
        "agents": {"judge": {"adapter": "scripted-grader", "set_env": {"LAUNCHER_GRADER_MODE": "always_satisfied"}}},
        "task": [{**TASK, "role": "backend"}],
    }
    _commit(repo, "plan.json", json.dumps(plan))

    ran = launcher_cli(repo, "run", "plan.json", "--quiet", "--json")

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (repo / "x.txt").read_text() == "x\n"
