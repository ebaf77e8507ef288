"""A journal SQLite still opens but whose rows are not what the launcher writes (JSON that does
not decode, a status no launcher has, a number column holding text, a table dropped) is reported
as a damaged journal by every command that reads it: exit 3, the journal and the row named, and
the way out (move it aside) -- never "internal error ... a launcher bug"."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import anyio
import pytest

from launcher.app.workflow import engine
from tests.helpers import git, launcher_cli
from tests.test_workflows import wf_repo  # noqa: F401  (the fixture)

PLAN = '[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "p"\nscript = [{ write = "x.txt", content = "x\\n" }]\n'

# `runs` lists the runs' rows only (and how many tasks each has): a task row's columns are read
# by the commands that show or drive tasks.
EVERY = (["status"], ["runs"], ["resume"], ["clean"])
TASKS = (["status"], ["resume"], ["clean"])
DAMAGE = {
    "plan not JSON": ("UPDATE runs SET plan_json='{'", "plan_json is not JSON", EVERY),
    "settings not JSON": ("UPDATE runs SET settings_json='xx'", "settings_json is not JSON", EVERY),
    "unknown run status": ("UPDATE runs SET status='zzz'", "status is 'zzz'", EVERY),
    "unknown task state": ("UPDATE tasks SET state='zzz'", "state is 'zzz'", TASKS),
    "cost not a number": ("UPDATE tasks SET cost_usd='abc'", "cost_usd is 'abc', not a number", TASKS),
    "tasks table dropped": ("DROP TABLE tasks", "have no rows in the tasks table", EVERY),
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with one finished run, its journal intact."""
    repo = tmp_path_factory.mktemp("journal-rows") / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    (repo / "plan.toml").write_text(PLAN)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "plan")
    ran = launcher_cli(repo, "run", "plan.toml", "--quiet")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return repo


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_command_says_the_journal_is_damaged_and_how_to_go_on(
    damage: str, finished: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(finished, repo)
    journal = repo / ".launcher" / "launcher.db"
    statement, named, commands = DAMAGE[damage]
    with sqlite3.connect(journal) as db:
        db.execute(statement)
    db.close()

    for command in commands:
        done = launcher_cli(repo, *command)
        said = done.stdout + done.stderr
        assert done.returncode == 3, f"{command}: {said}"
        assert "internal error" not in said
        assert f"{journal}: the journal is damaged" in done.stderr and named in done.stderr, said
        assert f"mv {journal} {journal}.damaged" in done.stderr
    as_json = launcher_cli(repo, "status", "--json")
    assert as_json.returncode == 3
    envelope = json.loads(as_json.stdout.splitlines()[0])
    assert envelope["ok"] is False and envelope["error_key"] == "journal_unusable"

    # The way out it names works: moved aside, a new journal is started.
    journal.rename(journal.with_name("launcher.db.damaged"))
    again = launcher_cli(repo, "runs")
    assert again.returncode == 0, again.stdout + again.stderr


WORKFLOW_DAMAGE = {
    "state not a workflow's": ("UPDATE workflows SET state_json='{\"id\": 1}'", "its state id: Input should be"),
    "kept template not a template": (
        "UPDATE workflows SET state_json=json_set(state_json, '$.options.template', json('{\"x\": 1}'))",
        "its state options.template.",
    ),
}


@pytest.mark.parametrize("damage", list(WORKFLOW_DAMAGE))
def test_a_damaged_workflow_row_is_said_as_a_damaged_journal(damage: str, wf_repo: Path) -> None:  # noqa: F811
    wid = anyio.run(engine.create, wf_repo, "mini", {"what": "mul"}, {}).id
    journal = wf_repo / ".launcher" / "launcher.db"
    statement, named = WORKFLOW_DAMAGE[damage]
    with sqlite3.connect(journal) as db:
        db.execute(statement)
    db.close()

    for command in (["workflow", "status", wid], ["workflow", "list"], ["workflow", "next", wid]):
        done = launcher_cli(wf_repo, *command)
        said = done.stdout + done.stderr
        assert done.returncode == 3, f"{command}: {said}"
        assert "internal error" not in said
        assert f"the journal is damaged: workflow {wid}: {named}" in done.stderr, said
        assert f"mv {journal} {journal}.damaged" in done.stderr
