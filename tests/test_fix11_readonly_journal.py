"""A checkout on a read-only mount (a CI artifact, a backup, a container volume mounted `:ro`):
its journal is intact. Commands that only read it (status, runs, logs, diff) show the runs as
they are; a command that writes it says the journal cannot be written because the file system
is read-only, that it is not damaged, and how to make it writable -- never "cannot be used,
move it aside", which would start an empty journal and hide every run.

The read-only mount is real: a private mount namespace (`unshare -m`) in which the test's
folder is bind-mounted read-only onto itself, for the commands run inside it only."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import launcher_cli

# Runs each command given in argv[1] (a JSON list of argument lists) and prints their results.
DRIVER = """import json, subprocess, sys
results = []
for args in json.loads(sys.argv[1]):
    done = subprocess.run([sys.executable, "-m", "launcher", *args], capture_output=True, text=True)
    results.append({"args": args, "code": done.returncode, "out": done.stdout, "err": done.stderr})
print(json.dumps(results))
"""


def _unshare() -> list[str]:
    """How this machine gives a process a private mount namespace (root: `unshare -m`; else a
    user namespace too, `unshare -rm`), or skip."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here")
    prefix = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here: {probe.stderr.strip()}")
    return prefix


def _on_a_read_only_mount(folder: Path, cwd: Path, *commands: list[str]) -> list[dict[str, object]]:
    """`launcher ARGS` for each of `commands`, run in `cwd` while `folder` is mounted read-only."""
    prefix = _unshare()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    script = 'mount -o bind,ro "$1" "$1" && cd "$2" && exec "$3" -c "$4" "$5"'
    argv = [*prefix, "sh", "-c", script, "sh", str(folder), str(cwd), sys.executable, DRIVER, json.dumps(commands)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip(f"cannot mount read-only here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    results: list[dict[str, object]] = json.loads(done.stdout)
    return results


def _ran(repo: Path, tmp_path: Path) -> str:
    plan = {"task": [{"id": "t1", "script": [{"write": "a.txt", "content": "a\n"},
                                             {"contract": {"files_changed": ["a.txt"]}}]}]}  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    ran = launcher_cli(repo, "run", str(tmp_path / "plan.json"), "--json", "--quiet")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_id: str = json.loads(ran.stdout)["run_id"]
    return run_id


@pytest.mark.parametrize("held", [False, True], ids=["closed", "held-open"])
def test_commands_that_read_the_journal_work_on_a_read_only_mount(repo: Path, tmp_path: Path, held: bool) -> None:
    """`closed`: no launcher has it open (no -wal, no -shm file beside it, none can be made);
    `held-open`: a connection keeps its -wal and -shm files (a launcher still running elsewhere)."""
    run_id = _ran(repo, tmp_path)
    with contextlib.ExitStack() as stack:
        if held:
            holder = stack.enter_context(contextlib.closing(sqlite3.connect(repo / ".launcher" / "launcher.db")))
            holder.execute("SELECT count(*) FROM runs").fetchone()
            assert (repo / ".launcher" / "launcher.db-shm").exists()
        status, runs, logs, diff = _on_a_read_only_mount(
            repo, repo, ["status", "--json"], ["runs"], ["logs", run_id, "t1"], ["diff", run_id, "t1"])

    assert status["code"] == 0, status["err"]
    report = json.loads(str(status["out"]))
    assert report["run_id"] == run_id and report["status"] == "succeeded"
    assert runs["code"] == 0 and run_id in str(runs["out"]) and "succeeded" in str(runs["out"]), runs["err"]
    assert logs["code"] == 0 and "scripted agent finished t1" in str(logs["out"]), logs["err"]
    assert diff["code"] == 0 and "+a\n" in str(diff["out"]), diff["err"]


def test_a_command_that_writes_the_journal_says_the_file_system_is_read_only(repo: Path, tmp_path: Path) -> None:
    run_id = _ran(repo, tmp_path)
    db = repo / ".launcher" / "launcher.db"
    before = db.read_bytes()
    (resumed,) = _on_a_read_only_mount(repo, repo, ["resume", run_id])

    err = str(resumed["err"])
    assert resumed["code"] == 3, err
    assert f"{db}: the journal cannot be written: the file system holding {db.parent} is mounted read-only" in err
    assert "it is not damaged" in err and "remount the file system" in err
    assert "move it aside" not in err and "cannot be used" not in err
    assert db.read_bytes() == before

    again = launcher_cli(repo, "status", run_id)  # the journal as it was: every run still there
    assert again.returncode == 0 and "succeeded" in again.stdout, again.stderr
