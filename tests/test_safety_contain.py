"""Issue 10 part 5: an agent cannot reach past its worktree through git, hooks, other trees or
processes that escape its process group."""

from __future__ import annotations

import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers import git, run_plan, task

# A command agent: runs the Python code in argv[1] inside its worktree, then reports done.
AGENT = """
import json, os, pathlib, subprocess, sys
def common_dir():
    out = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True, text=True)
    return pathlib.Path(out.stdout.strip()).resolve()
exec(sys.argv[1])
pathlib.Path(os.environ["LAUNCHER_CONTRACT"]).write_text(json.dumps({
    "contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
    "summary": "did it", "files_changed": [], "tests_added": [], "decisions": [], "blockers": [],
    "llm_observations": "a test agent: no judgement involved"}))
"""


def command_task(task_id: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "agent": task_id, **extra,
            "_agent": {"adapter": "command", "command": [sys.executable, "-c", AGENT, code]}}


def run_commands(repo: Path, tasks: list[dict[str, Any]], **run: Any) -> Any:
    """run_plan with each task's own command agent (declared under [agents])."""
    import anyio

    from launcher.app.run.runner import RunOptions, start_run
    from launcher.models.plan import validate_plan

    agents = {t["id"]: t.pop("_agent") for t in tasks if "_agent" in t}
    plan = validate_plan({"run": run, "agents": agents, "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


# --- 5a: hooks and config of the shared git directory ---------------------------------------

PLANT_HOOK = """
hook = common_dir() / "hooks" / "post-commit"
hook.parent.mkdir(exist_ok=True)
hook.write_text("#!/bin/sh\\necho \\"$LAUNCHER_TEST_SECRET\\" > {marker}\\n")
hook.chmod(0o755)
pathlib.Path("work.txt").write_text("work\\n")
"""


def test_an_agent_planted_hook_never_runs_is_removed_and_fails_the_task(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAUNCHER_TEST_SECRET", "hunter2")
    marker = tmp_path / "leaked.txt"
    hooks_before = sorted(p.name for p in (repo / ".git" / "hooks").iterdir())
    report = run_commands(repo, [command_task("hooker", PLANT_HOOK.format(marker=marker))])
    hooker = task(report, "hooker")
    assert hooker.state == "failed"
    assert "shared git directory" in hooker.message and "hooks/post-commit added" in hooker.message
    assert not marker.exists()  # the launcher's git never ran it
    assert sorted(p.name for p in (repo / ".git" / "hooks").iterdir()) == hooks_before
    assert git(repo, "log", "--oneline", "main").count("\n") == 1  # nothing landed


SET_HOOKS_PATH = """
hooks = pathlib.Path({hooks!r})
hooks.mkdir(exist_ok=True)
(hooks / "post-commit").write_text("#!/bin/sh\\necho \\"$LAUNCHER_TEST_SECRET\\" > {marker}\\n")
(hooks / "post-commit").chmod(0o755)
subprocess.run(["git", "config", "core.hooksPath", str(hooks)], check=True)
pathlib.Path("work.txt").write_text("work\\n")
"""


def test_an_agent_setting_core_hooks_path_is_undone_and_fails_the_task(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAUNCHER_TEST_SECRET", "hunter2")
    marker = tmp_path / "leaked.txt"
    config_before = (repo / ".git" / "config").read_bytes()
    code = SET_HOOKS_PATH.format(hooks=str(tmp_path / "evil-hooks"), marker=marker)
    report = run_commands(repo, [command_task("configurer", code)])
    configurer = task(report, "configurer")
    assert configurer.state == "failed" and "config changed" in configurer.message
    assert not marker.exists()
    assert (repo / ".git" / "config").read_bytes() == config_before
    # What the config said is set aside, not lost (it may be the user's own `git config`).
    kept = list((repo / ".launcher" / "runs").glob("*/intrusions/git-dir/*/config"))
    assert len(kept) == 1 and "evil-hooks" in kept[0].read_text() and str(kept[0].parent) in configurer.message
    git(repo, "commit", "-q", "--allow-empty", "-m", "the user's next commit")
    assert not marker.exists()  # nothing of the agent's stays in the user's repository


def test_the_launcher_s_own_git_runs_no_hook_even_one_already_there(
    repo: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran.txt"
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text(f"#!/bin/sh\necho ran > {marker}\n")
    hook.chmod(0o755)
    report = run_plan(repo, [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}])
    assert task(report, "a").state == "merged"
    assert not marker.exists()


# --- 5c: writes outside the worktree, detected by content -----------------------------------

def main_tree(code: str) -> str:
    """Agent code with MAIN bound to the main checkout (the parent of the common git dir)."""
    return "MAIN = common_dir().parent\n" + code


def test_overwriting_the_main_tree_s_ignored_env_fails_the_task(repo: Path) -> None:
    (repo / ".env").write_text("TOKEN=real\n")
    code = main_tree('(MAIN / ".env").write_text("TOKEN=stolen\\n")\npathlib.Path("w.txt").write_text("w")')
    report = run_commands(repo, [command_task("envy", code)])
    envy = task(report, "envy")
    assert envy.state == "failed" and "main checkout" in envy.message and ".env" in envy.message
    # put back from the content kept in memory at run start; the agent's version kept aside
    assert (repo / ".env").read_text() == "TOKEN=real\n"
    assert ".env (put back; the agent's version moved to" in envy.message, envy.message
    aside = (repo / ".launcher" / "runs").glob("*/envy/intrusions/**/.env*")
    assert [p.read_text() for p in aside] == ["TOKEN=stolen\n"]


def test_editing_an_already_dirty_main_tree_file_fails_the_task(repo: Path) -> None:
    (repo / "app.py").write_text("# the user's unsaved work\n")
    code = main_tree('(MAIN / "app.py").write_text("# overwritten\\n")\npathlib.Path("w.txt").write_text("w")')
    report = run_commands(repo, [command_task("dirty", code)])
    dirty = task(report, "dirty")
    assert dirty.state == "failed" and "app.py" in dirty.message


def test_a_back_dated_write_into_the_main_tree_is_still_caught(repo: Path) -> None:
    code = main_tree(
        'p = MAIN / "planted.txt"\np.write_text("x")\nos.utime(p, (1_000_000, 1_000_000))\n'
        'q = MAIN / "README.md"\nq.write_text("changed")\nos.utime(q, (1_000_000, 1_000_000))\n'
        'pathlib.Path("w.txt").write_text("w")'
    )
    report = run_commands(repo, [command_task("sneaky", code)])
    sneaky = task(report, "sneaky")
    assert sneaky.state == "failed"
    assert "planted.txt" in sneaky.message and "README.md" in sneaky.message


def test_touching_a_main_tree_file_without_changing_it_is_not_an_intrusion(repo: Path) -> None:
    (repo / ".env").write_text("TOKEN=real\n")
    (repo / "notes.txt").write_text("untracked notes\n")
    code = main_tree(
        'for name in (".env", "notes.txt"):\n'
        '    p = MAIN / name\n    p.write_bytes(p.read_bytes())\n    os.utime(p)\n'
        'pathlib.Path("w.txt").write_text("w")'
    )
    report = run_commands(repo, [command_task("toucher", code)])
    assert task(report, "toucher").state == "merged", task(report, "toucher").message


# Waits (at most 20 s) until task `other` is approved in the journal: its round and checks are over.
AWAIT_APPROVED = """
import sqlite3, time
def await_approved(other):
    db, deadline = MAIN / ".launcher" / "launcher.db", time.time() + 20
    while time.time() < deadline:
        try:
            row = sqlite3.connect(db).execute("SELECT state FROM tasks WHERE task_id=?", (other,)).fetchone()
        except sqlite3.Error:
            row = None
        if row and row[0] == "approved":
            return
        time.sleep(0.05)
    raise SystemExit(other + " was never approved")
"""


def test_a_main_tree_write_made_while_two_agents_ran_blames_neither_but_is_put_back(repo: Path) -> None:
    # The writer writes, then waits until the other task has been collected (which sees the
    # file first): by time alone nobody can tell which of the two wrote it. Blaming the task
    # that happened to finish first was a false report.
    writer = main_tree(AWAIT_APPROVED + '(MAIN / "intruded.txt").write_text("x")\n'
                       'await_approved("bystander")\npathlib.Path("w.txt").write_text("w")')
    bystander = main_tree('import time\nwhile not (MAIN / "intruded.txt").exists():\n    time.sleep(0.05)\n'
                          'pathlib.Path("b.txt").write_text("b")')
    report = run_commands(repo, [command_task("writer", writer), command_task("bystander", bystander)])
    assert task(report, "bystander").state == "merged", task(report, "bystander").message
    assert task(report, "writer").state == "merged", task(report, "writer").message
    assert not (repo / "intruded.txt").exists()  # put back all the same
    aside = list((repo / ".launcher" / "runs").glob("*/intrusions/intruded.txt"))
    assert [p.read_text() for p in aside] == ["x"]  # set aside for the run, not under either task


def test_a_main_tree_write_made_while_only_its_agent_ran_fails_that_task_alone(repo: Path) -> None:
    writer = main_tree(AWAIT_APPROVED + 'await_approved("bystander")\ntime.sleep(0.1)  # past a clock tick\n'
                       '(MAIN / "intruded.txt").write_text("x")\npathlib.Path("w.txt").write_text("w")')
    bystander = command_task("bystander", 'pathlib.Path("b.txt").write_text("b")')
    report = run_commands(repo, [command_task("writer", writer), bystander])
    assert task(report, "bystander").state == "merged", task(report, "bystander").message
    writer_row = task(report, "writer")
    assert writer_row.state == "failed" and "intruded.txt" in writer_row.message
    assert not (repo / "intruded.txt").exists()


def test_a_check_that_writes_into_the_main_checkout_fails_its_task_and_the_file_is_set_aside(
    repo: Path,
) -> None:
    leak = repo / "leak.txt"
    check = f"{sys.executable} -c \"open({str(leak)!r}, 'w').write('from a check')\""
    report = run_commands(repo, [command_task("leaky", 'pathlib.Path("w.txt").write_text("w")', checks=[check])])
    leaky = task(report, "leaky")
    assert leaky.state == "failed" and "checks wrote into the main checkout" in leaky.message, leaky.message
    assert "leak.txt" in leaky.message and not leak.exists()
    assert [p.read_text() for p in (repo / ".launcher" / "runs").glob("*/leaky/intrusions/leak.txt")] == [
        "from a check"]


# What an agent may not do to the shared repository, and the file that shows it was done.
SHARED_CHANGES = {
    "hook": ('h = common_dir() / "hooks" / "post-merge"\nh.write_text("#!/bin/sh\\n")\nh.chmod(0o755)\n',
             "hooks/post-merge"),
    "tag": ('subprocess.run(["git", "tag", "planted"], check=True)\n', "refs/tags/planted"),
}


@pytest.mark.parametrize("change", sorted(SHARED_CHANGES))
def test_a_shared_repository_change_made_while_two_agents_ran_blames_neither_and_is_undone(
    repo: Path, change: str
) -> None:
    code, evidence = SHARED_CHANGES[change]
    writer = main_tree(AWAIT_APPROVED + code + 'await_approved("bystander")\npathlib.Path("w.txt").write_text("w")')
    bystander = main_tree(f'import time\nwhile not (common_dir() / {evidence!r}).exists():\n    time.sleep(0.05)\n'
                          'pathlib.Path("b.txt").write_text("b")')
    report = run_commands(repo, [command_task("writer", writer), command_task("bystander", bystander)])
    assert task(report, "bystander").state == "merged", task(report, "bystander").message
    assert task(report, "writer").state == "merged", task(report, "writer").message
    assert not (repo / ".git" / evidence).exists()  # undone all the same


# Task "a" waits until task "b" is being graded (its worktree idle, its round committed), then
# writes a file into b's worktree. b's grader waits until a is done, then asks for a revision,
# so b's agent runs again on a worktree that, unguarded, holds a's file to commit and land.
STOWAWAY = """
import time
flags = pathlib.Path({flags!r})
while not (flags / "b-grading").exists():
    time.sleep(0.05)
victim = pathlib.Path(os.environ["LAUNCHER_WORKTREE"]).parent / "b"
(victim / "stowaway.txt").write_text("from a\\n")
(flags / "a-done").write_text("")
pathlib.Path("a.txt").write_text("a")
"""

WAITING_GRADER = """
import os, pathlib, runpy, sys, time
flags = pathlib.Path(sys.argv[1])
if os.environ["LAUNCHER_TASK_ID"] == "b" and os.environ["LAUNCHER_ITERATION"] == "1":
    (flags / "b-grading").write_text("")
    deadline = time.time() + 20
    while not (flags / "a-done").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
sys.argv = ["grader", sys.argv[2]]
runpy.run_module("launcher.agents.scripted_grader", run_name="__main__")
"""


def test_a_write_into_an_idle_worktree_is_undone_and_fails_the_writer(
    repo: Path, tmp_path: Path
) -> None:
    flags = tmp_path / "flags"
    flags.mkdir()
    grader = {"adapter": "command",
              "command": [sys.executable, "-c", WAITING_GRADER, str(flags), "{packet}"]}
    b_script = [
        {"write": "src/b.py", "content": "B = 1\n", "rounds": [1]},  # code, no test: revise
        {"write": "tests/test_b.py", "content": "def test_b():\n    pass\n", "rounds": [2]},
    ]
    tasks = [command_task("a", STOWAWAY.format(flags=str(flags))), {"id": "b", "script": b_script}]
    agents = {"a": tasks[0].pop("_agent"), "judge": grader}
    import anyio

    from launcher.app.run.runner import RunOptions, start_run
    from launcher.models.plan import validate_plan

    plan = validate_plan({"run": {"grader": "judge"}, "agents": agents, "task": tasks}, "plan")
    report = anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)
    a, b = task(report, "a"), task(report, "b")
    assert a.state == "failed" and "worktree of task b" in a.message, a.message
    assert b.state == "merged", b.message
    assert not (repo / "stowaway.txt").exists()
    assert "stowaway.txt" not in git(repo, "log", "--name-only", "--format=", "main")


# --- 5d: descendants that escape the process group ------------------------------------------

DAEMON = """
child = os.fork()
if child == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", {marker!r}])
    os._exit(0)
os.waitpid(child, 0)
pathlib.Path("w.txt").write_text("w")
"""


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in argv and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreaper is Linux-only")
def test_a_setsid_daemon_started_by_an_agent_does_not_outlive_the_run(
    repo: Path, tmp_path: Path
) -> None:
    marker = f"launcher-test-daemon-{uuid.uuid4().hex}"  # unique across concurrent sessions
    try:
        report = run_commands(repo, [command_task("demon", DAEMON.format(marker=marker))])
        assert task(report, "demon").state == "merged", task(report, "demon").message
        assert processes_with(marker) == []
    finally:
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_daemon_that_escaped_before_the_launcher_was_killed_is_killed_on_resume(
    repo: Path, tmp_path: Path
) -> None:
    """The dead launcher cannot reap it (it was re-parented to init), so resume finds it by the
    run id in its environment."""
    import json
    import sqlite3
    import subprocess
    import time

    from helpers import resume

    marker = f"launcher-test-escaped-{uuid.uuid4().hex}"
    code = DAEMON.format(marker=marker) + "\nimport time\ntime.sleep(60)\n"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "agents": {"demon": {"adapter": "command", "command": [sys.executable, "-c", AGENT, code]}},
        "task": [{"id": "demon", "agent": "demon"}],
    }))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(plan), "--quiet"],
                            cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(marker), "the agent never started its daemon"
        proc.kill()
        proc.wait()
        (run_id,) = sqlite3.connect(repo / ".launcher" / "launcher.db").execute(
            "SELECT id FROM runs").fetchone()
        report = resume(repo, run_id)
        deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(marker) == [], report.tasks[0].message
    finally:
        proc.kill()
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)


def test_checks_of_other_idle_trees_stay_within_their_time_budget(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Checking every idle tree after every round is O(N^2) `git status` runs: over budget,
    # only the checks that cannot be skipped run (one record per round, one check before landing).
    import anyio

    from launcher.app.run.runner import RunOptions, start_run
    from launcher.engine import idle_trees
    from launcher.models.plan import validate_plan

    checked: list[Path] = []
    real = idle_trees.tree_state

    async def counting(repo_: object, worktree: Path) -> tuple[str, frozenset[str]]:
        checked.append(worktree)
        return await real(repo_, worktree)  # type: ignore[arg-type]

    monkeypatch.setattr(idle_trees, "tree_state", counting)
    monkeypatch.setattr(idle_trees, "CROSS_CHECK_SHARE", 0.0)
    tasks = [{"id": f"t{i}", "script": [{"write": f"f{i}.txt", "content": f"{i}\n"}]} for i in range(6)]
    report = anyio.run(start_run, repo, validate_plan({"task": tasks}, "plan"), RunOptions(), lambda _e: None)
    assert report.status == "succeeded", [t.message for t in report.tasks]
    assert len(checked) == 2 * len(tasks)


def test_a_write_into_an_idle_worktree_is_caught_even_with_no_time_for_checks_after_rounds(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from launcher.engine import idle_trees

    monkeypatch.setattr(idle_trees, "CROSS_CHECK_SHARE", 0.0)
    test_a_write_into_an_idle_worktree_is_undone_and_fails_the_writer(repo, tmp_path)


# a waits until b's round is committed and recorded (b's journal row is approved), then writes
# into b's worktree and its own: only the check before landing can see it.
LATE_STOWAWAY = """
import sqlite3, time
db = pathlib.Path({db!r})
deadline = time.time() + 20
while time.time() < deadline:
    try:
        row = sqlite3.connect(db).execute("SELECT state FROM tasks WHERE task_id='b'").fetchone()
    except sqlite3.Error:
        row = None
    if row and row[0] == "approved":
        break
    time.sleep(0.05)
else:
    raise SystemExit("b was never approved")
victim = pathlib.Path(os.environ["LAUNCHER_WORKTREE"]).parent / "b"
(victim / "stowaway.txt").write_text("from a\\n")
pathlib.Path("a.txt").write_text("a")
"""


def test_a_write_found_only_before_landing_fails_the_writer_and_its_fold_is_never_journaled(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check of the approved worktrees runs alongside the in-memory fold: when it fails a
    # task, that fold is thrown away and made again without it.
    import sqlite3

    from launcher.engine import idle_trees

    monkeypatch.setattr(idle_trees, "CROSS_CHECK_SHARE", 0.0)  # nothing is found after a round
    db = repo / ".launcher" / "launcher.db"
    tasks = [command_task("a", LATE_STOWAWAY.format(db=str(db))),
             command_task("b", "pathlib.Path('b.txt').write_text('b')")]
    report = run_commands(repo, tasks)
    a, b = task(report, "a"), task(report, "b")
    assert a.state == "failed" and "worktree of task b" in a.message, a.message
    assert b.state == "merged", b.message
    landed = git(repo, "log", "--name-only", "--format=", "main")
    assert "b.txt" in landed and "a.txt" not in landed and "stowaway.txt" not in landed
    steps = sqlite3.connect(db).execute("SELECT kind, tasks_json FROM queue_steps").fetchall()
    assert steps and all('"a"' not in tasks_json for _kind, tasks_json in steps), steps


def test_a_stale_lock_on_the_target_parks_the_run_with_git_s_reason_not_a_false_move(repo: Path) -> None:
    # The target did not move: saying "main moved (expected X, now X)" hid the real cause.
    code = ('(common_dir() / "refs" / "heads" / "main.lock").write_text("")\n'
            'pathlib.Path("w.txt").write_text("w")')
    report = run_commands(repo, [command_task("locker", code)])
    assert report.status == "parked", report.message
    assert "could not move main" in report.message and "main.lock" in report.message, report.message
    assert "moved since" not in report.message
