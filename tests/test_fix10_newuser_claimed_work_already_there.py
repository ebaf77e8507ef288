"""A contract that claims changed files while the branch changed nothing fails its task (README,
"Task states and exit codes"); the reason says what happened. When the claimed file already held
that content where the task started (README's example plan run a second time: hello.txt landed
the first time), it says so, not "written outside it, or to ignored files?"."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli


def _run(repo: Path, tmp_path: Path, script: list[dict[str, str]]) -> dict[str, object]:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "t", "script": script}]}))
    done = launcher_cli(repo, "run", str(plan), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    (entry,) = report["tasks"]
    assert entry["state"] == "failed"
    return entry


def test_the_example_plan_run_twice_says_the_file_already_held_that_content(repo: Path) -> None:
    assert launcher_cli(repo, "init").returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "launcher: starter config")
    first = launcher_cli(repo, "run", "plan.example.toml", "--json")
    assert first.returncode == 0, first.stderr
    base = git(repo, "rev-parse", "HEAD").strip()

    second = launcher_cli(repo, "run", "plan.example.toml", "--json")

    assert second.returncode == 1, second.stderr
    (entry,) = json.loads(second.stdout)["tasks"]
    assert entry["state"] == "failed"
    assert entry["message"] == (
        "the contract claims 1 changed file(s) (hello.txt) but the branch changed nothing: hello.txt "
        f"already holds that content at the commit the task started from ({base[:12]}), so the task had "
        "nothing to change (if that work is what it was for, it is done: drop the task from the plan; "
        "else give it a change the base lacks)")
    assert "ignored files" not in entry["message"]


def test_work_that_is_nowhere_is_still_said_to_be_nowhere(repo: Path, tmp_path: Path) -> None:
    entry = _run(repo, tmp_path, [{"write": "notes.secret", "content": "kept out by .gitignore"}])

    assert entry["message"] == (
        "the contract claims 1 changed file(s) (notes.secret) but the branch changed nothing: the claimed "
        "work is not in the worktree (written outside it, or to ignored files?)")


def test_each_claim_gets_its_own_reason(repo: Path, tmp_path: Path) -> None:
    entry = _run(repo, tmp_path, [{"write": "README.md", "content": "# sample\n"},
                                  {"write": "notes.secret", "content": "x"}])

    message = str(entry["message"])
    assert message.startswith("the contract claims 2 changed file(s) (README.md, notes.secret) but the "
                              "branch changed nothing: README.md already holds that content at the commit "
                              "the task started from")
    assert message.endswith("; notes.secret is not in the worktree (written outside it, or to ignored files?)")
