"""Fixes of review 16's leftover suspicions (fixmisc16)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import git, launcher_cli

from launcher import process_identity
from launcher.app.run import export
from launcher.store import ports
from launcher.store.mutants import MutantStore

# 1. A recorded launcher pid is compared with the process's start time ---------------------------


@pytest.fixture
def pid_reused() -> Iterator[tuple[int, int]]:
    """A launcher that recorded itself is gone, and the kernel gave its pid to a newer process
    that runs `launcher` too: (that pid, the start time of the launcher that is gone)."""
    newer = subprocess.Popen(["bash", "-c", "exec -a launcher sleep 120"])
    try:
        deadline = time.monotonic() + 10
        while not process_identity.is_launcher(newer.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        started = process_identity.start_time(newer.pid)
        assert started is not None and process_identity.is_launcher(newer.pid)
        yield newer.pid, started - 5
    finally:
        newer.kill()
        newer.wait()


def test_a_sweep_whose_launcher_is_gone_resumes_though_a_newer_launcher_has_its_pid(
        tmp_path: Path, pid_reused: tuple[int, int]) -> None:
    pid, gone_started = pid_reused
    store = MutantStore(tmp_path / "launcher.db")
    store.create_sweep(lambda: "m-1", repo="r", base_sha="b", options_key="k", options={})
    assert store.sweep("m-1").pid_started == process_identity.start_time(os.getpid())
    store._db.execute("UPDATE mutation_sweeps SET pid=?, pid_started=? WHERE id='m-1'", (pid, gone_started))
    assert not store.sweep("m-1").running_elsewhere()  # `mutation list` says interrupted, `clean` removes its trees
    assert store.find_resumable(repo="r", base_sha="b", options_key="k") == "m-1"
    store.claim_sweep("m-1")  # not SweepBusy
    assert store.sweep("m-1").pid_started == process_identity.start_time(os.getpid())
    store.close()


def test_a_sweep_of_that_launcher_itself_still_holds(tmp_path: Path, pid_reused: tuple[int, int]) -> None:
    pid, _gone_started = pid_reused
    store = MutantStore(tmp_path / "launcher.db")
    store.create_sweep(lambda: "m-1", repo="r", base_sha="b", options_key="k", options={})
    store._db.execute("UPDATE mutation_sweeps SET pid=?, pid_started=? WHERE id='m-1'",
                      (pid, process_identity.start_time(pid)))  # fmt: skip
    assert store.sweep("m-1").running_elsewhere()
    assert store.find_resumable(repo="r", base_sha="b", options_key="k") is None
    store.close()


def test_a_store_of_an_older_launcher_gains_the_start_time_and_its_rows_are_checked_by_pid(
        tmp_path: Path, pid_reused: tuple[int, int]) -> None:
    pid, _gone_started = pid_reused
    db = sqlite3.connect(tmp_path / "launcher.db")
    db.execute("CREATE TABLE mutation_sweeps (id TEXT PRIMARY KEY, repo TEXT NOT NULL, base_sha TEXT NOT NULL, "
               "options_key TEXT NOT NULL, options_json TEXT NOT NULL, status TEXT NOT NULL, pid INTEGER, "
               "out_dir TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL)")
    db.execute("INSERT INTO mutation_sweeps VALUES ('m-old','r','b','k','{}','running',?,NULL,1,1)", (pid,))
    db.commit()
    db.close()
    store = MutantStore(tmp_path / "launcher.db")
    assert store.sweep("m-old").pid_started is None
    assert store.find_resumable(repo="r", base_sha="b", options_key="k") is None  # a live launcher: as before
    store.create_sweep(lambda: "m-new", repo="r", base_sha="b", options_key="k2", options={})
    assert store.sweep("m-new").pid_started is not None
    store.close()


def test_a_pool_worktree_half_made_by_a_gone_launcher_is_removed_though_its_pid_runs_again(
        repo: Path, pid_reused: tuple[int, int]) -> None:
    pid, gone_started = pid_reused
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    [pool] = (repo.parent / "cache").glob("**/_pool")  # under XDG_CACHE_HOME
    [ready] = list(pool.iterdir())
    assert ready.name.startswith("w") and "t" in ready.name.split("-")[0]  # w<pid>t<start time>-<hex>
    half_made = pool / f"w{pid}t{gone_started}-abcdef"
    git(repo, "worktree", "add", "--quiet", "--detach", "--no-checkout", str(half_made), "HEAD")
    again = launcher_cli(repo, "pool", "warm", "2")
    assert again.returncode == 0, again.stderr
    assert not half_made.exists()
    assert len(list(pool.iterdir())) == 2


def test_a_port_block_of_a_gone_launcher_is_free_though_its_pid_runs_again(
        tmp_path: Path, pid_reused: tuple[int, int]) -> None:
    pid, gone_started = pid_reused
    registry = tmp_path / "ports.json"
    ports.claim_block("run-1", "t", path=registry)
    [claim] = json.loads(registry.read_text()).values()
    assert claim["started"] == process_identity.start_time(os.getpid())
    gone = {"run": "old", "task": "t", "pid": pid, "started": gone_started, "at": 1.0}
    registry.write_text(json.dumps({str(b): dict(gone, task=f"t{b}")
                                    for b in range(ports.PORT_START, ports.PORT_END, ports.PORT_BLOCK)}))
    assert ports.claim_block("run-2", "t", path=registry) in range(ports.PORT_START, ports.PORT_END)


def test_an_export_partial_file_of_a_gone_writer_is_removed_though_its_pid_runs_again(
        tmp_path: Path, pid_reused: tuple[int, int]) -> None:
    pid, gone_started = pid_reused
    gone = tmp_path / f".launcher-export.json.{pid}t{gone_started}.partial"
    live = tmp_path / f".branches.bundle.{pid}t{process_identity.start_time(pid)}.partial"
    gone.write_text("half")
    live.write_text("half")
    assert export.remove_partials(tmp_path) == [gone]
    assert live.exists()


# 2. An unknown grader of launcher.toml names launcher.toml, even when a plan file is read ---------


def test_an_unknown_grader_of_launcher_toml_is_reported_under_launcher_toml_not_the_plan(repo: Path) -> None:
    (repo / "launcher.toml").write_text('[grading]\ngrader = "ghost"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "config")
    (repo / "plan.toml").write_text('[[task]]\nid = "a"\nagent = "scripted"\nprompt = "x"\n')

    done = launcher_cli(repo, "run", "plan.toml")

    assert done.returncode == 2, done.stderr
    assert f"error: {repo / 'launcher.toml'}: grading.grader: unknown grader agent 'ghost'" in done.stderr
    assert "plan.toml" not in done.stderr.splitlines()[0]
    assert "Plan format" not in done.stderr  # the plan's own fix is not this file's


# 3. A run resumed while both launcher.toml and [tool.launcher] configure: the note says so -------


def test_a_run_resumed_while_two_configs_configure_says_so_and_which_to_keep(repo: Path) -> None:
    (repo / "launcher.toml").write_text('default_agent = "scripted"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "config")
    assert launcher_cli(repo, "run", "--task", "write hello").returncode == 0
    (repo / "pyproject.toml").write_text('[tool.launcher]\ndefault_agent = "scripted"\n')

    resumed = launcher_cli(repo, "resume")

    said = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, said
    assert "launcher.toml changed since" not in said
    assert "both configure the launcher" in said and "the run keeps the settings it started with" in said
    assert "keep one: move the settings of [tool.launcher] into launcher.toml" in said


# 5. The demo's hints name the launcher as it was run -------------------------------------------


def _path_without_launcher() -> str:
    """PATH as a shell that did not activate the venv has it: no `launcher` on it."""
    venv_bin = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and p != venv_bin and not (Path(p) / "launcher").exists())  # fmt: skip


def _demo(tmp_path: Path, program: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["PATH"] = _path_without_launcher()
    done = subprocess.run([*program, "demo", "--where", str(tmp_path / "w")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_demo_run_by_the_venvs_path_names_that_path_in_its_hints(tmp_path: Path) -> None:
    program = str(Path(sys.executable).parent / "launcher")  # `.venv/bin/launcher demo`, not activated
    said = _demo(tmp_path, [program])
    assert f"&& {program} status" in said and f"`{program} clean --all`" in said
    assert "&& launcher " not in said and "`launcher clean" not in said


def test_a_demo_run_as_a_module_names_the_module_form_in_its_hints(tmp_path: Path) -> None:
    said = _demo(tmp_path, [sys.executable, "-m", "launcher"])
    assert f"&& {sys.executable} -m launcher status" in said
    assert "&& launcher " not in said


def test_hints_say_plain_launcher_when_path_finds_this_installation(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "from launcher.invocation import launcher_program as p; print(p())"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    assert done.stdout.strip() == "launcher", done.stderr
