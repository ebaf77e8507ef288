"""Regressions and holes in the twelfth session's fixes (review18, regress18).

- Overlapping rounds: a file one task's agent overwrites in the main checkout is put back as the
  latest copy taken before that write (another task's round start), never as an older copy of the
  task whose round ended first: the user's save made between the two rounds' starts is kept.
- A file the user deleted (`rm`, or `git mv` away) before an integration check ran is not what
  the check deleted: the check runs once, and no note says it deleted the file (a staged rename's
  source path was read from `git status -z` cut short: "es.txt" for notes.txt).
- A launcher killed (-9) while its integration check had overwritten the user's uncommitted file
  put nothing back, and the next snapshot (a resume, `clean`) deleted its copy of that file: now
  the copy is written to .launcher/killed-launcher-copies/ first, and a note says where.
- An integration check that replaces the user's file (saved during the run) by a directory: the
  directory's files moved aside, the file is put back as the user saved it (it was left an empty
  directory, the user's save in memory only, lost).
- `launcher clean` in a repository that was only swept (no run) kills what a killed sweep left
  running and puts back its installs, as it does beside a run (it refused: "there is no run to
  clean").
- A Timeout verdict is reused only under the same time limits: a sweep again with a larger
  `--timeout-factor` runs the mutant (it survived the longer limit; the cache said Timeout).
- A test that copies the whole environment for a child process (`{**os.environ}`) keys the
  mutation verdicts and the coverage map on what the copy holds, but not on a shell's or a CI
  job's own variables (OLDPWD after a `cd`, a CI run id): a second identical sweep after a `cd`
  reuses every verdict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
import test_fix17_sweep_leftovers as leftovers
from conftest import git
from editable_project import IMPORT, launcher_in, sh
from swept import project, sweep

from launcher.git.repo import GitRepo
from launcher.mutation.model import MutantStatus


def _env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(tmp_path / "home")}  # (PYTHONPATH kept: the launcher under test)


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _repo_with_check(tmp_path: Path, check_body: str, notes: str, setup_body: str | None = None) -> Path:
    """A committed repository (notes.txt holding `notes`) whose plan runs one command agent task,
    with `check_body` as its integration check and `setup_body` (the user's doing) as its setup."""
    repo = tmp_path / "repo"
    check = _script(tmp_path / "check.sh", check_body)
    agent = _script(tmp_path / "agent.sh", 'printf "work\\n" > "$1.txt"')
    setup = f'setup = "{_script(tmp_path / "setup.sh", setup_body)}"\n' if setup_body is not None else ""
    (repo / "notes.txt").write_text(notes)
    (repo / ".gitignore").write_text(".launcher/\n")
    (repo / "plan.toml").write_text(
        f'[run]\nintegration_check = "{check}"\n[agents.a]\nadapter = "command"\n'
        f'command = ["{agent}", "{{task_id}}"]\n[[task]]\nid = "t1"\nagent = "a"\nprompt = "x"\n{setup}')
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


def _notes(repo: Path, env: dict[str, str]) -> str:
    report = json.loads(launcher_in(repo, env, "status", "--json").stdout)
    return "\n".join(n.get("message", "") for n in report.get("notes", []))


def test_a_save_made_between_two_overlapping_rounds_starts_survives_the_put_back_of_the_first_to_end(
        tmp_path: Path) -> None:
    # t1's round starts; the user saves todo.txt (t2's setup stands for it); t2's round starts and
    # its agent overwrites todo.txt (once: not in its corrective round), still running when t1's
    # round ends and is checked first.
    repo = tmp_path / "repo"
    repo.mkdir()
    agent = _script(tmp_path / "agent.sh",
                    f'if [ "$1" = t1 ]; then sleep 3; elif [ ! -e {tmp_path}/wrote ]; then\n'
                    f'  printf "AGENT2\\n" > {repo}/todo.txt; touch {tmp_path}/wrote; sleep 6\nfi\n'
                    'printf "work\\n" > "$1.txt"')
    setup = _script(tmp_path / "setup.sh", f"sleep 0.5; printf 'MY SAVE\\n' > {repo}/todo.txt; sleep 1.5")
    (repo / "todo.txt").write_text("todo committed\n")
    (repo / ".gitignore").write_text(".launcher/\n")
    (repo / "plan.toml").write_text(
        f'[run]\nmax_parallel = 2\n[agents.a]\nadapter = "command"\ncommand = ["{agent}", "{{task_id}}"]\n'
        '[[task]]\nid = "t1"\nagent = "a"\nprompt = "x"\n'
        f'[[task]]\nid = "t2"\nagent = "a"\nprompt = "x"\nsetup = "{setup}"\n')
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    env = _env(tmp_path)

    launcher_in(repo, env, "run", "plan.toml", "--quiet")

    notes = _notes(repo, env)
    assert "todo.txt was written into the main checkout while the code of tasks t1, t2 ran" in notes
    assert (repo / "todo.txt").read_text() == "MY SAVE\n"  # not the run-start copy over the save
    kept = [p.read_text() for p in (repo / ".launcher").rglob("intrusions/todo.txt*") if p.is_file()]
    assert kept == ["AGENT2\n"]
    assert "todo.txt (put back as it was at the start of task t2's round; the agent's version moved to" in notes


CHILD = {
    "src/app.py": "def f(x):\n    return x * 2\n",
    "tests/test_app.py": "import os\nimport subprocess\nimport sys\nsys.path.insert(0, 'src')\nfrom app import f\n\n\n"
                         "def test_f():\n    assert f(10) == 20\n\n\n"
                         "def test_child():\n    env = {**os.environ, 'EXTRA': '1'}\n"
                         "    done = subprocess.run([sys.executable, '-c', 'print(1)'], env=env, capture_output=True)\n"
                         "    assert done.returncode == 0\n",
}  # fmt: skip


def test_a_copy_of_the_environment_keys_on_what_it_holds_but_not_on_session_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path / "p", CHILD)
    monkeypatch.setenv("OLDPWD", "/somewhere")
    monkeypatch.setenv("GITHUB_RUN_ID", "100")
    monkeypatch.setenv("APP_MODE", "fast")
    first = sweep(root, ["src/app.py"], ["arithmetic"])
    assert {r.source for r in first.results} == {"run"}

    monkeypatch.setenv("OLDPWD", "/elsewhere")  # a `cd` between the sweeps; the next CI job
    monkeypatch.setenv("GITHUB_RUN_ID", "101")
    again = sweep(root, ["src/app.py"], ["arithmetic"])
    assert {r.source for r in again.results} == {"cached"}
    assert any("coverage map reused" in note for note in again.notes)

    monkeypatch.setenv("APP_MODE", "slow")  # what the copy holds for the child: may change its outcome
    changed = sweep(root, ["src/app.py"], ["arithmetic"])
    assert {r.source for r in changed.results} == {"run"}
    assert {r.status for r in changed.results} == {MutantStatus.KILLED}


@pytest.mark.parametrize("users_change", ["rm notes.txt", "git mv notes.txt renamed.txt"], ids=["rm", "git-mv"])
def test_a_file_the_user_removed_before_the_integration_check_is_not_the_checks_deletion(
        tmp_path: Path, users_change: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    counter = tmp_path / "count"
    _repo_with_check(tmp_path, f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}", "notes\n",
                     f"cd {repo} && {users_change}")  # the user's, during the run
    env = _env(tmp_path)

    launcher_in(repo, env, "run", "plan.toml", "--quiet")

    notes = _notes(repo, env)
    assert counter.read_text().strip() == "1"  # no run again: nothing changed while it ran
    assert "deleted from the main checkout while the integration check ran" not in notes
    assert "es.txt" not in notes.replace("notes.txt", "")
    assert not (repo / "notes.txt").exists()


def test_the_main_checkouts_status_names_a_staged_renames_paths_whole(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "notes.txt").write_text("notes\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    git(repo, "mv", "notes.txt", "renamed.txt")

    async def status() -> list[str]:
        return await (await GitRepo.discover(repo)).status_porcelain()

    assert sorted(entry[3:] for entry in anyio.run(status)) == ["notes.txt", "renamed.txt"]


killed_sweep = leftovers.killed_sweep  # a sweep killed (-9) while its test command runs; no run ever


def test_plain_clean_in_a_repository_only_swept_kills_a_dead_sweeps_test_command(
    killed_sweep: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    repo, env, mine = killed_sweep
    done = launcher_in(repo, {**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}, "clean")
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert leftovers._pids_running(tmp_path) == [], said
    assert sh(f"python -c '{IMPORT}'", tmp_path, env).stdout.strip() == mine, said
    assert "dead launcher left running" in said
    assert "removed sweep worktree" not in said  # its trees stay for a resume (`clean --all` removes them)


@pytest.mark.parametrize("then", ["resume", "clean"])
def test_a_launcher_killed_while_its_check_overwrote_the_users_file_leaves_the_users_version_kept(
        tmp_path: Path, then: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    checking = tmp_path / "checking"
    _repo_with_check(tmp_path, f"printf 'CHECK OUTPUT\\n' > {repo}/notes.txt; touch {checking}; "
                               f"[ -e {tmp_path}/quick ] || sleep 60", "committed\n")
    (repo / "notes.txt").write_text("committed\nMY UNCOMMITTED WORK\n")
    env = _env(tmp_path)
    run = subprocess.Popen([sys.executable, "-m", "launcher", "run", "plan.toml", "--quiet"], cwd=repo, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not checking.exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
        assert checking.exists(), "the integration check never ran"
        run.kill()  # -9, in the middle of the check
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
    (tmp_path / "quick").touch()
    assert (repo / "notes.txt").read_text() == "CHECK OUTPUT\n"

    args = ["resume", "--quiet"] if then == "resume" else ["clean"]
    done = launcher_in(repo, env, *args)

    said = done.stdout + done.stderr + (_notes(repo, env) if then == "resume" else "")
    kept = list((repo / ".launcher" / "killed-launcher-copies").rglob("notes.txt"))
    assert [p.read_text() for p in kept] == ["committed\nMY UNCOMMITTED WORK\n"], said
    assert "notes.txt (changed since a launcher that was killed took its copy" in said


SLOW = {
    "src/slow.py": "import time\n\nFAST = True\n\n\n"
                   "def pause():\n    time.sleep(0.1 if FAST else 12)\n    return 'ok'\n",
    "tests/test_slow.py": "import sys\nsys.path.insert(0, 'src')\nfrom slow import pause\n\n\n"
                          "def test_pause():\n    assert pause() == 'ok'\n",
}  # fmt: skip


def test_a_timeout_is_not_reused_by_a_sweep_with_a_longer_limit(tmp_path: Path) -> None:
    root = project(tmp_path / "p", SLOW)
    short = sweep(root, ["src/slow.py"], ["boolean"], timeout_factor=1.0, timeout_min_s=2.0)
    assert [(r.status, r.source) for r in short.results] == [(MutantStatus.TIMEOUT, "run")]

    again = sweep(root, ["src/slow.py"], ["boolean"], timeout_factor=1.0, timeout_min_s=2.0)
    assert [(r.status, r.source) for r in again.results] == [(MutantStatus.TIMEOUT, "cached")]  # same limits

    longer = sweep(root, ["src/slow.py"], ["boolean"], timeout_factor=100.0, timeout_min_s=2.0)
    assert [(r.status, r.source) for r in longer.results] == [(MutantStatus.SURVIVED, "run")]


def test_a_file_the_check_turned_into_a_directory_is_put_back_as_the_user_saved_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _repo_with_check(tmp_path, f"rm -rf {repo}/notes.txt; mkdir {repo}/notes.txt; echo x > {repo}/notes.txt/inner",
                     "committed\n", f"printf 'MY SAVE\\n' > {repo}/notes.txt")  # the user's, during the run
    env = _env(tmp_path)

    launcher_in(repo, env, "run", "plan.toml", "--quiet")

    notes = _notes(repo, env)
    assert (repo / "notes.txt").is_file(), notes
    assert (repo / "notes.txt").read_text() == "MY SAVE\n"
    assert "notes.txt (put back as it was right before the check" in notes
