"""A copied include file never lands, not even edited or re-encoded: a landing whose commits add a
line of a small text include file (a `.env`) under another name is refused, and the refusal names
the files and lines, never the secret. Lines the target already holds, and the files of a copied
dependency tree (`node_modules/`), are not secrets."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import anyio
from helpers import git, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport
from launcher.models.states import TaskState

SECRET = "API_KEY=sk-live-0123456789abcdef"


def run_shell(repo: Path, script: str, **run: Any) -> RunReport:
    plan = validate_plan({"run": run, "agents": {"sh": {"adapter": "command", "command": ["sh", "-c", script]}},
                          "task": [{"id": "t", "agent": "sh", "prompt": "x"}]}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def with_env(repo: Path, env_text: str) -> None:
    (repo / ".env").write_text(env_text)  # .gitignore ignores it
    (repo / ".worktreeinclude").write_text(".env\n")
    git(repo, "add", ".worktreeinclude")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "include .env")


def on_main(repo: Path, path: str) -> str | None:
    shown = subprocess.run(["git", "show", f"main:{path}"], cwd=repo, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def test_an_edited_copy_of_an_include_file_is_refused_naming_files_and_lines_not_the_secret(repo: Path) -> None:
    with_env(repo, f"# local settings\n{SECRET}\n")
    report = run_shell(repo, "echo 'NEW_FLAG=1' >> .env; cp .env .env.example; echo doc >> README.md")
    t = task(report, "t")
    assert t.state != TaskState.MERGED
    assert on_main(repo, ".env.example") is None
    assert ".env.example whose line 2 holds line 2 of the copied include file .env" in t.message
    assert "sk-live" not in t.message


def test_a_crlf_copy_of_an_include_file_is_refused(repo: Path) -> None:
    with_env(repo, f"{SECRET}\n")
    report = run_shell(repo, "sed 's/$/\\r/' .env > env.crlf.txt")
    t = task(report, "t")
    assert t.state != TaskState.MERGED
    assert "env.crlf.txt whose line 1 holds line 1 of the copied include file .env" in t.message
    assert on_main(repo, "env.crlf.txt") is None


def test_a_line_the_target_already_holds_and_short_or_comment_lines_are_no_secret(repo: Path) -> None:
    (repo / "settings.example").write_text("DATABASE_URL=postgres://localhost/dev\n")
    git(repo, "add", "settings.example")
    with_env(repo, "DATABASE_URL=postgres://localhost/dev\nDEBUG=1\n# the local database settings\n")
    report = run_shell(repo, "(cat .env; echo more) > notes.txt")
    assert task(report, "t").state == TaskState.MERGED, task(report, "t").message
    assert on_main(repo, "notes.txt") == (
        "DATABASE_URL=postgres://localhost/dev\nDEBUG=1\n# the local database settings\nmore\n")


def test_lines_of_a_copied_dependency_tree_are_not_secrets(repo: Path) -> None:
    modules = repo / "node_modules"
    for number in range(25):
        (modules / f"pkg{number}").mkdir(parents=True)
        (modules / f"pkg{number}" / "index.js").write_text(f"module.exports = require('./lib{number}');\n")
    (repo / ".gitignore").write_text((repo / ".gitignore").read_text() + "node_modules/\n")
    git(repo, "add", ".gitignore")
    with_env(repo, f"{SECRET}\n")
    (repo / ".worktreeinclude").write_text(".env\nnode_modules/\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "include node_modules")
    report = run_shell(repo, "(cat node_modules/pkg3/index.js; echo '// mine') > mine.js")
    assert task(report, "t").state == TaskState.MERGED, task(report, "t").message
    assert on_main(repo, "mine.js") == "module.exports = require('./lib3');\n// mine\n"
