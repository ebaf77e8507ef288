"""Left-alone defects of the fifteenth review: site installs and masking.

- `launcher clean` of a run whose launcher was killed while a command re-pointed the user's
  venv into a worktree puts the user's install back before the worktrees go, and says so.
- The commands the launcher runs outside a run's tasks (a workflow's test and coverage runs, the
  mutation judge, `mutation fix`'s re-settle) are guarded as a task's checks are: what they
  install from their throwaway tree into the user's venv is put back after them; one a killed
  launcher left is put back before the next such command runs.
- A command the launcher suggests stays copy-pastable when it holds a value the run passes: in
  a code span the value is `${NAME:?}`, elsewhere `***(NAME)`; the value never shows.
- facts.json's `contract_error`, the corrective feedback and the grader packet mask an agent's
  refused contract (a key it echoed into it), as the journal does.
- A workflow's test command's output is masked with the values its phase's run passes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from conftest import git
from editable_project import IMPORT, INSTALL, backend, editable_project, launcher_in, make_venv, sh, user_env

from launcher.engine import site_installs
from launcher.engine.site_installs import SiteGuard
from launcher.models.redact import mask
from launcher.store.journal import Journal

BACKEND = backend('''
        "pkg-editable.pth": (src + "\\n").encode(),''')
TASK = '[[task]]\nid = "doc"\nagent = "scripted"\nprompt = "add a note"\n'
SCRIPT = 'script = [{ append = "NOTES.md", content = "note\\n" }]\n'


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's shared venv (one for the module: making one takes a while)."""
    yield make_venv(tmp_path_factory.mktemp("user-venv") / "venv")


def _project(root: Path, plan: str) -> Path:
    return editable_project(root, BACKEND, {"plan.toml": plan})


_sh = sh


_launcher = launcher_in


def _imports(where: Path, env: dict[str, str]) -> str:
    done = _sh(f"python -c '{IMPORT}'", where, env)
    return done.stdout.strip() or done.stderr.strip()


def _installed_by_user(repo: Path, env: dict[str, str], tmp_path: Path) -> None:
    _sh("pip uninstall -q -y pkg", repo, env)
    assert _sh(INSTALL, repo, env).returncode == 0
    assert _imports(tmp_path, env) == str(repo / "src/pkg/__init__.py")


def _killed_while(repo: Path, env: dict[str, str], marker: Path, tmp_path: Path) -> None:
    """`launcher run` killed -9 once `marker` says its command installed from a worktree."""
    launcher = subprocess.Popen([sys.executable, "-m", "launcher", "run", "plan.toml", "--quiet"], cwd=repo, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the command never ran"
        assert "/worktrees/" in _imports(tmp_path, env)  # it re-pointed the user's venv...
    finally:
        os.kill(launcher.pid, signal.SIGKILL)  # ...and the launcher dies before it puts it back
        launcher.wait()


# 1. `launcher clean` puts the user's install back, as `resume` does


def test_clean_after_a_launcher_killed_during_a_check_that_installed_puts_the_users_install_back(
    venv: Path, tmp_path: Path
) -> None:
    env = user_env(venv, tmp_path / "home")
    marker = tmp_path / "installed"
    repo = _project(tmp_path / "repo", TASK + f'checks = ["{INSTALL} && touch {marker} && sleep 60"]\n' + SCRIPT)
    _installed_by_user(repo, env, tmp_path)
    _killed_while(repo, env, marker, tmp_path)

    done = _launcher(repo, env, "clean")  # its check (left running) is killed by clean

    assert done.returncode == 0, done.stdout + done.stderr
    assert _imports(tmp_path, env) == str(repo / "src/pkg/__init__.py")  # the user's checkout again
    assert "put back the editable install of pkg-0.1 from " + repo.as_uri() in done.stdout
    assert "a command of run r-" in done.stdout


# 2. Every command run in a launcher tree is guarded: a workflow's test command


WORKFLOW = """name = "t"
description = "one tested phase"
keywords = ["t"]
[[phase]]
id = "test"
artifacts = ["test/results.json"]
[[phase.primary]]
role = "tester"
prompt = "test it"
"""


def test_a_workflow_test_command_that_installs_the_project_leaves_the_users_install_as_it_was(
    venv: Path, tmp_path: Path
) -> None:
    env = user_env(venv, tmp_path / "home")
    repo = _project(tmp_path / "repo", "")
    (repo / "workflows").mkdir()
    (repo / "workflows/t.toml").write_text(WORKFLOW)
    (repo / "launcher.toml").write_text(
        '[agents.w]\nadapter = "command"\ncommand = ["sh", "-c", "echo tested > done.txt"]\n'
        f'[roles]\ndefault = "w"\n[workflow]\ntest_command = "{INSTALL} && echo tests-ran"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "workflow")
    _installed_by_user(repo, env, tmp_path)

    done = _launcher(repo, env, "workflow", "start", "t", "--json")

    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(next((repo / ".launcher/workflows").glob("*/test/results.json")).read_text())
    assert results["output_tail"] == "tests-ran\n"  # the test command ran, and installed from its scratch tree
    assert _imports(tmp_path, env) == str(repo / "src/pkg/__init__.py")  # the user's checkout again
    assert "put back the editable install of pkg-0.1 from " + repo.as_uri() in results["installs_put_back"][0]


def _dist(site: Path, url: str) -> None:
    """An editable install of pkg from `url`, as pip leaves it (a `.pth` naming its src/)."""
    info = site / "pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pkg\nVersion: 0.1\n")
    (info / "direct_url.json").write_text(json.dumps({"url": url, "dir_info": {"editable": True}}))
    (site / "pkg.pth").write_text(url.removeprefix("file://") + "/src\n")
    (info / "RECORD").write_text("pkg.pth,,\npkg-0.1.dist-info/RECORD,,\n")


def _repoint(site: Path, url: str) -> None:
    for entry in (site / "pkg-0.1.dist-info", site / "pkg.pth"):
        if entry.is_dir():
            for sub in entry.iterdir():
                sub.unlink()
            entry.rmdir()
        else:
            entry.unlink()
    _dist(site, url)


def test_an_install_a_killed_launchers_guarded_command_left_is_put_back_before_the_next_one(tmp_path: Path) -> None:
    site, root, record = tmp_path / "site", tmp_path / "worktrees" / "wf_1", tmp_path / "state" / "site-installs.json"
    site.mkdir()
    record.parent.mkdir()
    _dist(site, (tmp_path / "user").as_uri())
    guard = SiteGuard(root=root, record=record, loaded=True, before={})
    guard.before[site] = site_installs.SiteState.read(site, guard.needles())
    guard._save()  # kept before the command ran; then the launcher was killed while it installed:
    _repoint(site, (root / "test-test").as_uri())

    async def next_command() -> list[str]:
        async with site_installs.guarded(root, record, {"PATH": ""}) as put_back:
            assert (site / "pkg.pth").read_text() == f"{tmp_path / 'user'}/src\n"  # back before it runs
        return put_back

    put_back = anyio.run(next_command)

    assert put_back == [f"{site}: put back the editable install of pkg-0.1 from {(tmp_path / 'user').as_uri()} in "
                        f"place of pkg-0.1 (from {(root / 'test-test').as_uri()})"]
    assert not record.exists()  # nothing left to put back


# 3. A suggested command stays copy-pastable


def test_a_value_in_a_suggested_command_is_named_as_a_variable_and_masked_elsewhere(tmp_path: Path) -> None:
    secrets = {"/builds/group/project": "CI_PROJECT_DIR", "sk-live-0123456789": "API_KEY"}
    message = ("not retried: its worktree /builds/group/project/wt/a has work no commit holds; remove it "
               "(`git worktree remove --force /builds/group/project/wt/a`), then `launcher resume r-1 --retry-failed`")

    assert mask(message, secrets, commands=True) == (
        "not retried: its worktree ***(CI_PROJECT_DIR)/wt/a has work no commit holds; remove it "
        "(`git worktree remove --force ${CI_PROJECT_DIR:?}/wt/a`), then `launcher resume r-1 --retry-failed`")
    # output (a log, a check's tail) keeps the mask everywhere; two overlapping values stay masked
    assert mask(message, secrets) == message.replace("/builds/group/project", "***(CI_PROJECT_DIR)")
    # pasted where the variable is not set, the command stops instead of running on `/wt/a`
    command = mask(message, secrets, commands=True).split("`")[1]
    unset = subprocess.run(["sh", "-c", command.replace("git worktree remove --force", "echo")],
                           capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert unset.returncode != 0 and "CI_PROJECT_DIR" in unset.stderr and not unset.stdout
    set_ = subprocess.run(["sh", "-c", command.replace("git worktree remove --force", "echo")], capture_output=True,
                          text=True, env={"PATH": os.environ["PATH"], "CI_PROJECT_DIR": "/builds/group/project"})
    assert set_.stdout == "/builds/group/project/wt/a\n"
    assert mask("`curl sk-live-0123456789abcdef`", {**secrets, "0123456789abcdef": "B"}, commands=True) == (
        "`curl ***(API_KEY)***(B)`")


def test_the_journal_keeps_a_notes_suggested_command_copy_pastable(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "launcher.db", passed=lambda _: {"/builds/group/project": "CI_PROJECT_DIR"})
    run_id = journal.create_run(lambda: "r-20260101-000000-abcd", repo=str(tmp_path), base_sha="0" * 40,
                                target="main", plan={"tasks": []}, settings={}, task_ids=[], launcher_pid=os.getpid())
    journal.add_note(run_id, None, "remove it (`rm -rf /builds/group/project/wt`) first")

    assert [n["message"] for n in journal.notes(run_id)] == [
        "remove it (`rm -rf ${CI_PROJECT_DIR:?}/wt`) first"]


# 4. A refused contract's quoted text is masked in facts.json, the feedback and the packet

BOT = """#!/bin/sh
echo change > CHANGE.md
printf '{"contract_version":"1","task_id":"%s","status":"%s","summary":"s","files_changed":["CHANGE.md"],\
"tests_added":[],"decisions":[],"blockers":[],"llm_observations":"o"}' "$LAUNCHER_TASK_ID" "done-with-$BOT_KEY" \
> "$LAUNCHER_CONTRACT"
"""


def test_a_key_an_agent_echoed_into_a_refused_contract_is_masked_in_the_facts_feedback_and_packet(
    tmp_path: Path,
) -> None:
    key = "sk-live-0123456789abcdef"
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "bot.sh").write_text(BOT)
    (repo / ".gitignore").write_text(".launcher/\n")
    (repo / "plan.toml").write_text(
        f'[run]\ngrader = "scripted-grader"\n[agents.bot]\nadapter = "command"\ncommand = ["sh", "{repo}/bot.sh"]\n'
        'env = ["BOT_KEY"]\n[[task]]\nid = "a"\nagent = "bot"\nprompt = "x"\n')
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")

    done = _launcher(repo, {**os.environ, "BOT_KEY": key}, "run", "plan.toml", "--quiet", "--no-merge")

    assert done.returncode == 0, done.stdout + done.stderr
    task = next((repo / ".launcher/runs").glob("*/a"))
    facts = json.loads((task / "facts.json").read_text())
    assert facts["contract_error"]["error_key"] == "status_invalid_enum"  # refused, and said why...
    assert "'done-with-***(BOT_KEY)'" in facts["contract_error"]["observations"]  # ...without the value
    assert "***(BOT_KEY)" in (task / "feedback.json").read_text()
    assert (task / "grading/1-packet.md").is_file()
    assert facts["files_changed"] == ["CHANGE.md"]  # what the launcher compares is left as it is
    shown = [p for p in task.rglob("*") if p.is_file() and p.name != "agent.log" and key in p.read_text()]
    assert shown == []


# 5. A workflow's test output is masked with its phase run's values


def test_a_workflow_test_commands_output_masks_a_value_its_phase_run_passes(tmp_path: Path) -> None:
    key = "sk-ant-0123456789abcdefXYZ"
    home = tmp_path / "home"
    home.mkdir()
    (home / ".token").write_text(key + "\n")  # the tests read it from a file the launcher does not know
    repo = tmp_path / "repo"
    (repo / "workflows").mkdir(parents=True)
    (repo / "workflows/t.toml").write_text(WORKFLOW)
    (repo / ".gitignore").write_text(".launcher/\n")
    (repo / "launcher.toml").write_text(
        '[agents.w]\nadapter = "command"\ncommand = ["sh", "-c", "echo tested > done.txt"]\n'
        '[roles]\ndefault = "w"\n[workflow]\ntest_command = "echo token: $(cat $HOME/.token); echo 1 passed"\n')
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    env = {**os.environ, "HOME": str(home), "ANTHROPIC_API_KEY": key}  # an adapter credential: the run masks it

    done = _launcher(repo, env, "workflow", "start", "t", "--json")

    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(next((repo / ".launcher/workflows").glob("*/test/results.json")).read_text())
    assert results["output_tail"] == "token: ***(ANTHROPIC_API_KEY)\n1 passed\n"
    assert results["counts"] == {"passed": 1}
