"""The first hour (issue 13): a newcomer following the README on a repository succeeds without
reading the source. Every test drives the real CLI (or the app function it calls) on a real
repository in tmp_path."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import anyio
from conftest import git
from helpers import launcher_cli

from launcher.app import inspect as inspect_app
from launcher.gates.check_summary import failure_line

BOT = '''"""A tiny agent: writes the prompt to <task>.txt and its completion contract."""
import json, os, pathlib, sys
task = os.environ["LAUNCHER_TASK_ID"]
pathlib.Path(f"{task}.txt").write_text(sys.argv[1] + "\\n")
pathlib.Path(os.environ["LAUNCHER_CONTRACT"]).write_text(json.dumps({
    "contract_version": "1", "task_id": task, "status": "done", "summary": "wrote it",
    "files_changed": [f"{task}.txt"], "tests_added": [], "decisions": [], "blockers": [],
    "llm_observations": "the prompt, verbatim"}))
print("bot wrote", task)
'''


def with_bot(repo: Path, *, default_agent: bool = True, commit: bool = True) -> Path:
    """launcher.toml names agent `bot` (a script of the repository), as `launcher init` does."""
    (repo / "tools").mkdir(exist_ok=True)
    (repo / "tools" / "bot.py").write_text(BOT)
    default = 'default_agent = "bot"\n' if default_agent else ""
    (repo / "launcher.toml").write_text(
        f'{default}[agents.bot]\nadapter = "command"\n'
        f'command = [{json.dumps(sys.executable)}, "tools/bot.py", "{{prompt}}"]\n')
    if commit:
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "bot")
    return repo


def write_plan(path: Path, tasks: list[dict[str, object]], **extra: object) -> Path:
    path.write_text(json.dumps({"task": tasks, **extra}))
    return path


def runs_in_journal(repo: Path) -> int:
    db = repo / ".launcher" / "launcher.db"
    if not db.exists():
        return 0
    import sqlite3

    return int(sqlite3.connect(db).execute("SELECT count(*) FROM runs").fetchone()[0])


# 1. Agents of launcher.toml are usable by --task and by plans; error text keeps its brackets.

def test_task_runs_an_agent_defined_in_launcher_toml(repo: Path) -> None:
    with_bot(repo)
    done = launcher_cli(repo, "run", "--task", "say hi", "--agent", "bot", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(t["agent"], t["state"]) for t in report["tasks"]] == [("bot", "merged")]
    assert (repo / "task-1.txt").read_text() == "say hi\n"


def test_a_plan_may_name_an_agent_of_pyproject_tool_launcher(repo: Path, tmp_path: Path) -> None:
    (repo / "tools").mkdir()
    (repo / "tools" / "bot.py").write_text(BOT)
    (repo / "pyproject.toml").write_text(
        f'[tool.launcher.agents.bot]\ncommand = [{json.dumps(sys.executable)}, "tools/bot.py", "{{prompt}}"]\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "bot")
    plan = write_plan(tmp_path / "plan.json", [{"id": "one", "agent": "bot", "prompt": "p"}])
    done = launcher_cli(repo, "run", str(plan), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tasks"][0]["state"] == "merged"


def test_unknown_agent_message_shows_the_agents_table_name_literally(repo: Path) -> None:
    done = launcher_cli(repo, "run", "--task", "x", "--agent", "ghost")
    assert done.returncode == 2
    assert "--agent: unknown agent 'ghost'" in done.stderr  # the flag typed, not a task 'task-1' never written
    assert "[agents.<name>]" in done.stderr  # rich used to eat it: "name an  entry"


def test_task_with_an_unknown_default_agent_names_default_agent_in_launcher_toml(repo: Path, tmp_path: Path) -> None:
    (repo / "launcher.toml").write_text('default_agent = "ghost"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "config")
    plan = write_plan(tmp_path / "plan.json", [{"id": "a", "prompt": "p"}])
    for args in (["--task", "do it"], [str(plan)]):  # one check, one message, for both ways
        done = launcher_cli(repo, "run", *args, "--json")
        assert done.returncode == 2
        assert "launcher.toml: default_agent 'ghost' (launcher.toml) is not an agent" in done.stderr, done.stderr
        assert "task 'task-1'.agent" not in done.stderr
        assert "Fix: set default_agent to one of: " in done.stderr
        assert json.loads(done.stdout)["error_key"] == "usage:no_agent"
    assert runs_in_journal(repo) == 0


# 2. --task without --agent: the configured default, or a usage error; never a silent no-op.

def test_task_without_agent_runs_the_default_agent(repo: Path) -> None:
    with_bot(repo)
    done = launcher_cli(repo, "run", "--task", "hello", "--json")
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)["tasks"][0]
    assert task["agent"] == "bot" and task["state"] == "merged"


def test_task_without_agent_and_without_default_is_a_usage_error(repo: Path) -> None:
    with_bot(repo, default_agent=False)
    done = launcher_cli(repo, "run", "--task", "hello", "--task", "again")
    assert done.returncode == 2
    assert "--agent" in done.stderr and "default_agent" in done.stderr
    assert runs_in_journal(repo) == 0


# 3. Preflight: a missing agent CLI or an uncommitted agent script, before anything exists.

def test_missing_agent_cli_is_exit_3_before_any_worktree_or_branch(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path / "plan.json",
        [{"id": "a", "agent": "ghost", "prompt": "p"}, {"id": "b", "agent": "ghost", "prompt": "p"}],
        agents={"ghost": {"command": ["no-such-agent-cli-xyz", "{prompt}"]}},
    )
    done = launcher_cli(repo, "run", str(plan))
    assert done.returncode == 3, done.stderr
    assert "agent 'ghost'" in done.stderr and "no-such-agent-cli-xyz is not on PATH" in done.stderr
    assert "nothing was created" in done.stderr
    assert runs_in_journal(repo) == 0
    assert git(repo, "branch", "--list", "launcher/*").strip() == ""
    assert not (tmp_path / "cache" / "launcher" / "worktrees").exists()


def test_readme_task_command_right_after_init_names_the_missing_script(repo: Path) -> None:
    assert launcher_cli(repo, "init").returncode == 0
    done = launcher_cli(repo, "run", "--task", "add a /health endpoint", "--task", "write its test",
                        "--agent", "bot")
    assert done.returncode == 3, done.stderr  # was: exit 2, "unknown agent 'bot'"
    assert "agent 'bot' runs tools/bot.py, which does not exist" in done.stderr
    assert runs_in_journal(repo) == 0


def test_agent_script_not_committed_is_exit_3_naming_it(repo: Path) -> None:
    with_bot(repo, commit=False)
    done = launcher_cli(repo, "run", "--task", "hello")
    assert done.returncode == 3
    assert "tools/bot.py, which is not committed" in done.stderr
    assert runs_in_journal(repo) == 0


def test_commit_signing_that_cannot_sign_is_exit_3_before_any_agent_runs(repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "commit.gpgsign", "true")
    git(repo, "config", "gpg.program", "false")  # as with no key: the signer fails
    plan = write_plan(tmp_path / "plan.json", [{"id": "a", "script": [{"write": "a.txt", "content": "a"}]}])
    done = launcher_cli(repo, "run", str(plan))
    assert done.returncode == 3, done.stderr
    assert "commit.gpgsign is on, but git cannot sign a commit in this repository" in done.stderr
    assert "git config commit.gpgsign false" in done.stderr and "nothing was created" in done.stderr
    assert runs_in_journal(repo) == 0
    assert git(repo, "branch", "--list", "launcher/*").strip() == ""
    assert not (tmp_path / "cache" / "launcher" / "worktrees").exists()


def test_commit_signing_that_works_signs_the_launchers_commits(repo: Path, tmp_path: Path) -> None:
    signer = tmp_path / "fake-gpg"  # answers as gpg does: the signature out, SIG_CREATED on the status fd
    signer.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stdin.read()\n"
        "sys.stderr.write('\\n[GNUPG:] SIG_CREATED D 1 8 00 0 FAKE\\n')\n"
        "sys.stdout.write('-----BEGIN PGP SIGNATURE-----\\n\\nfake\\n-----END PGP SIGNATURE-----\\n')\n")
    signer.chmod(0o755)
    git(repo, "config", "commit.gpgsign", "true")
    git(repo, "config", "gpg.program", str(signer))
    plan = write_plan(tmp_path / "plan.json", [{"id": "a", "script": [{"write": "a.txt", "content": "a"}]}])
    done = launcher_cli(repo, "run", str(plan), "--quiet")
    assert done.returncode == 0, done.stderr
    commit = git(repo, "log", "-1", "--format=%H", "main", "--", "a.txt").strip()
    assert "gpgsig -----BEGIN PGP SIGNATURE-----" in git(repo, "cat-file", "commit", commit)


# 4. Failures explain themselves; logs, diff, path and runs.

def test_failure_line_is_the_first_error_not_the_tally() -> None:
    pytest_output = (
        "ImportError while loading conftest '/w/conftest.py'.\n"
        "conftest.py:7: in <module>\n    from app import x\n"
        "E   ImportError: cannot import name 'x' from 'app'\n"
        "=========== 1 error in 0.11s ===========\n"
    )
    assert failure_line(pytest_output) == "ImportError: cannot import name 'x' from 'app'"
    assert failure_line("Traceback (most recent call last):\n  File 'x'\nValueError: bad\n") == "ValueError: bad"
    assert failure_line("..F\nFAILED t.py::test_a - assert 1 == 2\n1 failed, 2 passed in 0.1s\n") \
        == "FAILED t.py::test_a - assert 1 == 2"
    assert failure_line("nothing helpful\nlast line\n") == "last line"


BROKEN_IMPORT_TEST = "from app import missing\n\n\ndef test_it():\n    assert missing\n"


def test_failed_check_shows_its_error_and_logs_diff_path_runs_show_the_rest(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", [{
        "id": "broken", "prompt": "p",
        "script": [{"say": "agent speaking"}, {"write": "test_broken.py", "content": BROKEN_IMPORT_TEST}],
        "checks": [f"{sys.executable} -m pytest -p no:cacheprovider test_broken.py"],
    }])
    done = launcher_cli(repo, "run", str(plan), "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    run_id, task = report["run_id"], report["tasks"][0]
    assert "ImportError: cannot import name 'missing'" in task["message"], task["message"]
    assert "error in" not in task["message"]

    checks = launcher_cli(repo, "logs", run_id, "broken", "--checks")
    assert checks.returncode == 0
    assert checks.stdout.startswith(f"--- check: {sys.executable} -m pytest")
    assert "(FAILED, exit 2)" in checks.stdout and "E   ImportError" in checks.stdout
    assert "agent speaking" not in checks.stdout
    both = launcher_cli(repo, "logs", run_id, "broken")
    assert both.stdout.index("agent speaking") < both.stdout.index("--- check:")

    diff = launcher_cli(repo, "diff", run_id, "broken")
    assert diff.returncode == 0 and "+++ b/test_broken.py" in diff.stdout
    path = launcher_cli(repo, "path", run_id, "broken")
    assert path.returncode == 0 and Path(path.stdout.strip()) == Path(task["worktree"])
    assert (Path(path.stdout.strip()) / "test_broken.py").is_file()

    runs = launcher_cli(repo, "runs")
    assert runs.returncode == 0 and run_id in runs.stdout and "failed" in runs.stdout
    unknown = launcher_cli(repo, "status", "r-20990101-000000-abcd")
    assert unknown.returncode == 2 and "`launcher runs` lists the runs" in unknown.stderr
    typo = launcher_cli(repo, "logs", "r-20990101-000000-abcd", "broken")
    assert typo.returncode == 2 and "no run 'r-20990101-000000-abcd'" in typo.stderr


def test_path_of_a_landed_task_says_where_its_work_went(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", [{"id": "ok", "script": [{"write": "a.txt", "content": "a"}]}])
    run_id = json.loads(launcher_cli(repo, "run", str(plan), "--json").stdout)["run_id"]
    done = launcher_cli(repo, "path", run_id, "ok")
    assert done.returncode == 2 and "has no worktree (state merged); its work landed" in done.stderr


# 5. Ctrl-C in the live view says what happened; resume --retry-failed.

def _run_in_pty(repo: Path, args: list[str], interrupt_after_s: float, until: bytes | None = None
                ) -> tuple[str, int]:
    """The launcher on a terminal, interrupted `interrupt_after_s` after it started (after it
    printed `until`, when given: a loaded machine may take longer to start its run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the launcher on a terminal, as a user runs it
        os.chdir(repo)
        os.execvpe(sys.executable, [sys.executable, "-m", "launcher", *args], env)
    out = b""

    def read_for(seconds: float, marker: bytes | None = None) -> None:
        nonlocal out
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and (marker is None or marker not in out):
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                out += chunk

    if until is not None:
        read_for(60, until)
    read_for(interrupt_after_s)
    os.kill(pid, signal.SIGINT)
    read_for(15)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out.decode("utf-8", "replace"), os.waitstatus_to_exitcode(status)


def test_ctrl_c_in_the_live_view_says_state_saved(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", [{"id": "slow", "role": "backend", "script": [{"sleep": 30}]}])
    out, code = _run_in_pty(repo, ["run", str(plan)], interrupt_after_s=1.0, until=b"0 of 1 done")
    assert code == 130
    assert "launcher run" in out  # the live table was shown
    found = re.search(r"interrupted: state saved; `launcher resume (\S+)` continues", out)
    assert found is not None, out[-800:]  # the run stopped, by id: not whichever run is the latest
    said = found.group(0)
    # Seen, not erased: the line comes after the table's last drawing (the live display used
    # to redraw over it, cursor-up and erase-line, leaving a silent exit).
    assert said in out and out.rindex(said) > out.rindex("0 of 1 done"), out[-800:]
    status = launcher_cli(repo, "status").stdout
    assert "status: interrupted - state saved; `launcher resume` continues" in status
    assert "interrupted - interrupted" not in status


def test_resume_retry_failed_reruns_failed_tasks_and_what_they_held_up(repo: Path, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    plan = write_plan(tmp_path / "plan.json", [
        {"id": "a", "script": [{"write": "a.txt", "content": "a"}], "checks": [f"test -f {flag}"]},
        {"id": "b", "depends_on": ["a"], "script": [{"write": "b.txt", "content": "b"}]},
        {"id": "c", "script": [{"write": "c.txt", "content": "c"}]},
    ])
    first = json.loads(launcher_cli(repo, "run", str(plan), "--json").stdout)
    assert {t["id"]: t["state"] for t in first["tasks"]} == {"a": "failed", "b": "skipped", "c": "merged"}
    plain = json.loads(launcher_cli(repo, "resume", first["run_id"], "--json").stdout)
    assert {t["id"]: t["state"] for t in plain["tasks"]}["a"] == "failed"  # done stays done

    flag.write_text("")
    retried = launcher_cli(repo, "resume", first["run_id"], "--retry-failed", "--json")
    assert retried.returncode == 0, retried.stderr
    report = json.loads(retried.stdout)
    assert {t["id"]: t["state"] for t in report["tasks"]} == {"a": "merged", "b": "merged", "c": "merged"}
    assert report["status"] == "succeeded"
    assert git(repo, "for-each-ref", "--format=%(refname)", f"refs/launcher/{first['run_id']}/a/").startswith(
        f"refs/launcher/{first['run_id']}/a/failed-")
    assert any((repo / ".launcher" / "runs" / first["run_id"] / "_retried").glob("a-*/agent.log"))


def test_task_rows_of_a_run_feed_the_table_of_resume(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", [{"id": "x", "role": "docs", "script": [{"exit": 1}]}])
    run_id = json.loads(launcher_cli(repo, "run", str(plan), "--json").stdout)["run_id"]
    assert anyio.run(inspect_app.task_rows, repo, run_id) == (run_id, [("x", "docs", "scripted")])
    assert anyio.run(inspect_app.task_rows, repo, None) == (run_id, [("x", "docs", "scripted")])  # the latest
    # A mistyped id stays the id asked for (resume/land then say it does not exist), never the latest.
    assert anyio.run(inspect_app.task_rows, repo, "r-20990101-000000-abcd") == ("r-20990101-000000-abcd", [])


# 6. Exit codes: status succeeded at showing; a repository without a commit.

def test_status_exits_0_for_a_failed_run_unless_asked_for_the_runs_code(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", [{"id": "x", "checks": ["false"],
                                                "script": [{"write": "x.txt", "content": "x"}]}])
    assert launcher_cli(repo, "run", str(plan), "--quiet").returncode == 1
    shown = launcher_cli(repo, "status")
    assert shown.returncode == 0 and "failed" in shown.stdout
    assert launcher_cli(repo, "status", "--exit-status").returncode == 1


def test_a_repository_without_a_commit_is_an_environment_problem(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    plan = write_plan(tmp_path / "plan.json", [{"id": "x", "script": [{"write": "x.txt", "content": "x"}]}])
    done = launcher_cli(empty, "run", str(plan))
    assert done.returncode == 3
    assert "no commit yet" in done.stderr and "make a first commit" in done.stderr
    assert runs_in_journal(empty) == 0


# 8. README and init agree with the program; identity; help and version; text glitches.

def test_init_writes_user_modes_says_what_and_what_next_as_the_readme_says(repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    done = subprocess.run(["/bin/sh", "-c", f'umask 022 && exec "{sys.executable}" -m launcher init'],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    written = [line.removeprefix("wrote ") for line in done.stdout.splitlines() if line.startswith("wrote ")]
    for name in written:
        assert stat.S_IMODE((repo / name).stat().st_mode) == 0o644, name
    assert f"{len(written)} file(s) written" in done.stdout
    assert "launcher run plan.example.toml" in done.stdout and "git add -A && git commit" in done.stdout
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    claimed = re.search(r"launcher init\s+# writes (\d+) files", readme)
    assert claimed and int(claimed[1]) == len(written)
    assert "launcher run plan.example.toml" in readme and "launcher run plan.toml " not in readme
    assert 'default_agent = "bot"' in (repo / "launcher.toml").read_text()


def test_commits_are_the_users_with_the_agent_in_trailers(repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "user.name", "Ada Lovelace")
    git(repo, "config", "user.email", "ada@example.com")
    plan = write_plan(tmp_path / "plan.json", [{"id": "x", "script": [{"write": "x.txt", "content": "x"}]}])
    before = git(repo, "rev-parse", "HEAD").strip()
    assert launcher_cli(repo, "run", str(plan), "--quiet").returncode == 0
    # The run's own commits (by ancestry, not by date: they may share the fixture's second).
    authors = set(git(repo, "log", "--format=%an <%ae>|%cn", f"{before}..HEAD").splitlines())
    assert authors == {"Ada Lovelace <ada@example.com>|Ada Lovelace"}
    assert "Launcher-Agent: scripted" in git(repo, "log", "--format=%(trailers)", f"{before}..HEAD")
    overridden = write_plan(tmp_path / "p2.json", [{"id": "y", "script": [{"write": "y.txt", "content": "y"}]}])
    assert launcher_cli(repo, "run", str(overridden), "--quiet",
                        env={"LAUNCHER_GIT_NAME": "CI bot", "LAUNCHER_GIT_EMAIL": "ci@example.com"}).returncode == 0
    assert git(repo, "log", "-1", "--format=%an <%ae>").strip() == "CI bot <ci@example.com>"


def test_version_short_help_and_flags_without_a_type(repo: Path) -> None:
    from launcher import __version__

    version = launcher_cli(repo, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"launcher {__version__}"
    short = launcher_cli(repo, "run", "-h", env={"COLUMNS": "120"})
    assert short.returncode == 0 and "--retry-failed" not in short.stdout and "--no-merge" in short.stdout
    assert "<bool>" not in short.stdout and "<list[str]>" not in short.stdout
    assert "<bool>" not in launcher_cli(repo, "resume", "--help", env={"COLUMNS": "120"}).stdout


def test_plain_lines_say_run_once_and_interrupted_once(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", [{"id": "x", "script": [{"write": "x.txt", "content": "x"}]}])
    done = launcher_cli(repo, "run", str(plan), "--quiet")
    first = done.stdout.splitlines()[0]
    assert re.fullmatch(r"\d\d:\d\d:\d\d run r-\S+ on main", first), first
    assert " run run " not in done.stdout


# Acceptance: the README's quick start, in order, through the real CLI.

def test_readme_quick_start_in_order(repo: Path) -> None:
    init = launcher_cli(repo, "init")
    assert init.returncode == 0 and "Next:" in init.stdout
    # "edit [agents.bot] in launcher.toml": the user's agent is a script of the repository
    (repo / "tools").mkdir()
    (repo / "tools" / "bot.py").write_text(BOT)
    toml = (repo / "launcher.toml").read_text()
    python = json.dumps(sys.executable)
    (repo / "launcher.toml").write_text(toml.replace('["python3", "tools/bot.py"', f'[{python}, "tools/bot.py"'))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "launcher: starter config")

    example = launcher_cli(repo, "run", "plan.example.toml")
    assert example.returncode == 0, example.stdout + example.stderr
    assert "hello" in example.stdout and "merged" in example.stdout and "status: succeeded" in example.stdout

    tasks = launcher_cli(repo, "run", "--task", "add a /health endpoint", "--task", "write its test")
    assert tasks.returncode == 0, tasks.stdout + tasks.stderr
    assert "task-1" in tasks.stdout and "task-2" in tasks.stdout and "status: succeeded" in tasks.stdout
    assert (repo / "task-2.txt").read_text() == "write its test\n"

    status = launcher_cli(repo, "status")
    assert status.returncode == 0 and "status: succeeded" in status.stdout
    run_id = launcher_cli(repo, "runs").stdout.split()[0]
    logs = launcher_cli(repo, "logs", run_id, "task-1")
    assert logs.returncode == 0 and "bot wrote task-1" in logs.stdout
    clean = launcher_cli(repo, "clean", "--all")
    assert clean.returncode == 0 and "cleaned:" in clean.stdout
    assert git(repo, "status", "--porcelain").strip() == ""


def test_the_state_dir_made_by_any_first_command_is_never_committed_by_git_add_all(repo: Path) -> None:
    # README "Using it": `launcher init`, a look around, then `git add -A && git commit`.
    with open(repo / "init-output.txt", "w") as out:  # a launcher's own stdout in the checkout
        subprocess.run([sys.executable, "-m", "launcher", "init"], cwd=repo, stdout=out, check=True)
    assert not (repo / ".launcher").exists()  # recording that output never creates the state dir
    for command in (["runs"], ["status"], ["lessons", "add", "check the journal"]):
        done = launcher_cli(repo, *command)
        assert done.returncode in (0, 2) and "internal error" not in done.stderr, done.stderr  # 2: no runs yet
    assert (repo / ".launcher" / "launcher.db").is_file()
    assert "/.launcher/" in (repo / ".git" / "info" / "exclude").read_text().splitlines()
    git(repo, "add", "-A")
    staged = git(repo, "diff", "--cached", "--name-only").split()
    assert "LESSONS.md" in staged and "launcher.toml" in staged
    assert not [path for path in staged if path.startswith(".launcher/")], staged


def test_best_of_attempts_of_a_task_that_names_no_agent_run_the_default_agent(repo: Path, tmp_path: Path) -> None:
    with_bot(repo)
    plan = write_plan(tmp_path / "plan.json", [{"id": "t", "prompt": "p", "attempts": 2}])

    done = launcher_cli(repo, "run", str(plan), "--json", timeout=180)

    assert done.returncode == 0, done.stdout + done.stderr
    tasks = {t["id"]: t for t in json.loads(done.stdout)["tasks"]}
    attempts = [t for tid, t in tasks.items() if tid != "t"]
    assert len(attempts) == 2 and all(t["agent"] == "bot" for t in attempts), attempts  # not "scripted"
    assert tasks["t"]["state"] == "merged", tasks["t"]
