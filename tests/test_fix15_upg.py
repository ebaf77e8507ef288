"""Review 15, upgrade findings 01 and 04: state an earlier launcher left, read by this one.

- 01: a mutant's verdict is reused (from the cache, or by a resumed sweep) only if it was judged
  the way this launcher judges it: the executor its job goes to (in a fork's memory, or with the
  mutant on disk) is part of the result key, and verdicts keyed by launchers before that
  (result-key schema /2) all miss.
- 04: what `workflow resume` (and `cancel`) does to the user's environment when it puts back the
  installs a killed runner's test command left (`put_back_installs`) is told where the user
  looks: the phase's notes, the command's output and `workflow status`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files
from editable_project import IMPORT, INSTALL, PYPROJECT, backend, make_venv, user_env

from launcher.app.mutation.progress import LineListener
from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation import result_key
from launcher.mutation.coverage_map import CoverageMap
from launcher.mutation.model import MutantStatus
from launcher.mutation.results import MutantRecord
from launcher.store.mutants import MutantStore


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# A test compares a CLI child's output (`python -m pkg.cli`, importing pkg/render.py from disk)
# with the library's result: a mutant of `banner` changes both sides (a true survivor) when it is
# on disk; in a fork's memory only, the sides disagree (a false "Killed").
CLI_PROJECT = {
    "pkg/__init__.py": "",
    "pkg/render.py": 'def banner(name):\n    return "== " + name.upper() + " =="\n',
    "pkg/cli.py": "import sys\n\nfrom pkg.render import banner\n\nif __name__ == '__main__':\n"
                  "    print(banner(sys.argv[1]))\n",
    "tests/test_cli.py": (
        "import subprocess\nimport sys\n\nfrom pkg.render import banner\n\n\n"
        "def test_cli_matches_library():\n"
        "    out = subprocess.run([sys.executable, '-m', 'pkg.cli', 'bob'], capture_output=True, text=True,"
        " check=True)\n"
        "    assert out.stdout.strip() == banner('bob')\n"
    ),
}  # fmt: skip


def cli_project(root: Path) -> Path:
    write_files(root, CLI_PROJECT)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def sweep(root: Path, listener: Any = None, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 1)
    options.setdefault("python", sys.executable)
    options.setdefault("paths", ["pkg/render.py"])
    options.setdefault("operators", ["string"])
    return anyio.run(run_sweep, root, SweepOptions(**options), lambda _line: None, listener)


def judged_in_a_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this process's sweeps route the CLI test's mutants as the previous launcher did: into
    the fork executor (it did not know the test's child imports the file from disk)."""
    select = CoverageMap.select
    monkeypatch.setattr(CoverageMap, "select", lambda self, m: dataclasses.replace(select(self, m), in_child=False))


def statuses(records: list[MutantRecord]) -> dict[str, tuple[MutantStatus, str]]:
    return {r.mutant.id: (r.status, r.source) for r in records}


def test_verdicts_keyed_before_the_executor_was_in_the_key_are_not_reused() -> None:
    # Launchers up to schema /2 judged a child-process test's mutants in a fork: their verdicts
    # (cached or in an unfinished sweep) may be false kills, and their keys must all miss.
    assert result_key.SCHEMA != "launcher-result-key/2"


def test_a_verdict_judged_in_a_fork_is_not_reused_for_a_mutant_now_judged_on_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    root = cli_project(tmp_path / "p")
    with monkeypatch.context() as patch:
        judged_in_a_fork(patch)
        earlier = sweep(root)
    assert {(r.status, r.executor) for r in earlier.results} == {(MutantStatus.KILLED, "fork")}  # the false kills

    now = sweep(root)  # the cache holds the fork's verdicts: they must not stand for the mutants on disk

    assert {(r.status, r.executor, r.source) for r in now.results} == {(MutantStatus.SURVIVED, "generic", "run")}
    assert now.score == 0.0
    again = sweep(root)  # this launcher's own verdicts are cached and reused
    assert {(r.status, r.source) for r in again.results} == {(MutantStatus.SURVIVED, "cached")}


class _Interrupted(Exception):
    pass


class _StopAfterOne(LineListener):
    """A sweep killed after it settled (and stored) its first mutant."""

    def settled(self, done: int, total: int, record: MutantRecord) -> None:
        super().settled(done, total, record)
        raise _Interrupted


def test_a_resumed_sweep_judges_again_the_mutants_an_earlier_attempt_judged_in_a_fork(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    root = cli_project(tmp_path / "p")
    with monkeypatch.context() as patch, pytest.raises(_Interrupted):
        judged_in_a_fork(patch)
        sweep(root, _StopAfterOne(lambda _line: None))
    store = MutantStore(root / ".launcher" / "launcher.db")
    try:
        (sweep_id,) = [row.id for row in store.sweeps()]
        earlier = [(r.status, r.executor) for r in store.results(sweep_id).values()]
    finally:
        store.close()
    assert earlier == [("Killed", "fork")]

    resumed = sweep(root, resume=sweep_id)

    assert resumed.resumed
    assert {(r.status, r.executor, r.source) for r in resumed.results} == {(MutantStatus.SURVIVED, "generic", "run")}
    assert any("1 verdict(s) from before the interruption" in n and "settled again, not reused" in n
               for n in resumed.notes), resumed.notes  # fmt: skip


# 04. What a workflow's test command did to the user's venv is told where the user looks

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


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's shared venv (one for the module: making one takes a while)."""
    yield make_venv(tmp_path_factory.mktemp("user-venv") / "venv")


def workflow_project(root: Path, test_command: str) -> Path:
    (root / "src/pkg").mkdir(parents=True)
    (root / "src/pkg/__init__.py").write_text("VALUE = 1\n")
    (root / "_backend").mkdir()
    (root / "_backend/backend.py").write_text(backend('''
        "pkg-editable.pth": (src + "\\n").encode(),'''))
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".gitignore").write_text("__pycache__/\n.launcher/\n")
    (root / "workflows").mkdir()
    (root / "workflows/t.toml").write_text(WORKFLOW)
    (root / "launcher.toml").write_text(
        '[agents.w]\nadapter = "command"\ncommand = ["sh", "-c", "echo tested > done.txt"]\n'
        f'[roles]\ndefault = "w"\n[workflow]\ntest_command = "{test_command}"\n')
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


def sh(cmd: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", cmd], cwd=cwd, env=env, text=True, capture_output=True, timeout=300)


def launcher(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=repo, env=env, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=600)  # fmt: skip


def installed_by_user(repo: Path, env: dict[str, str], tmp_path: Path) -> None:
    sh("pip uninstall -q -y pkg", repo, env)
    assert sh(INSTALL, repo, env).returncode == 0
    assert sh(f"python -c '{IMPORT}'", tmp_path, env).stdout.strip() == str(repo / "src/pkg/__init__.py")


def the_workflow(repo: Path) -> str:
    (folder,) = (repo / ".launcher/workflows").iterdir()
    return folder.name


def test_an_install_a_phases_test_command_made_and_the_launcher_put_back_is_in_the_phases_notes(
        venv: Path, tmp_path: Path) -> None:  # fmt: skip
    env = user_env(venv, tmp_path / "home")
    repo = workflow_project(tmp_path / "repo", f"{INSTALL} && echo tests-ran")
    installed_by_user(repo, env, tmp_path)

    done = launcher(repo, env, "workflow", "start", "t")

    assert done.returncode == 0, done.stdout + done.stderr
    said = "put back the editable install of pkg-0.1 from " + repo.as_uri()
    assert said in done.stdout  # the command's own output
    status = launcher(repo, env, "workflow", "status", the_workflow(repo))
    assert said in status.stdout  # and `workflow status`, as the phase's note
    (row,) = json.loads(launcher(repo, env, "workflow", "status", the_workflow(repo), "--json").stdout)["phases"]
    assert any(said in note and "your environment" in note for note in row["notes"]), row["notes"]


def test_what_a_killed_runners_test_command_installed_and_resume_put_back_is_told_by_resume_and_status(
        venv: Path, tmp_path: Path) -> None:  # fmt: skip
    env = user_env(venv, tmp_path / "home")
    marker = tmp_path / "installed"
    # the first run of the test command installs from its scratch tree and hangs; a later one just passes
    repo = workflow_project(tmp_path / "repo", f"test -e {marker} || {{ {INSTALL} && touch {marker} && sleep 60; }}")
    installed_by_user(repo, env, tmp_path)
    runner = subprocess.Popen([sys.executable, "-m", "launcher", "workflow", "start", "t", "--quiet"], cwd=repo,
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the test command never ran"
        assert "/worktrees/" in sh(f"python -c '{IMPORT}'", tmp_path, env).stdout  # the user's venv re-pointed
    finally:
        os.kill(runner.pid, signal.SIGKILL)  # the runner dies before it puts the install back
        runner.wait()

    done = launcher(repo, env, "workflow", "resume", the_workflow(repo))

    assert done.returncode == 0, done.stdout + done.stderr
    assert sh(f"python -c '{IMPORT}'", tmp_path, env).stdout.strip() == str(repo / "src/pkg/__init__.py")
    said = "put back the editable install of pkg-0.1 from " + repo.as_uri()
    assert said in done.stdout  # `resume` says what it changed in the user's venv...
    status = launcher(repo, env, "workflow", "status", the_workflow(repo))
    assert said in status.stdout  # ...and so does `workflow status` afterwards (the phase's note, kept)
    assert "whose runner died" in status.stdout
