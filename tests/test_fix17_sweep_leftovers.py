"""`launcher clean` finishes what a killed mutation sweep left, as it does for a killed run.

A sweep's test command runs in a process group of its own and outlives a launcher killed with -9;
one that `pip install -e .`s the project re-points the user's venv into a worker tree, which the
sweep's guard record (`.launcher/mutation-guards/<sweep>/`) remembers. Before `clean --all` deletes
the dead sweep's worker trees it kills what the sweep left running and puts the user's install
back, and says so; a record whose trees were deleted by hand is put back too, and goes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from editable_project import IMPORT, INSTALL, backend, editable_project, launcher_in, make_venv, sh, user_env

from launcher.app.mutation import sweep_leftovers
from launcher.mutation.run_env import WORKER_MARKER_ENV


def test_clean_knows_the_sweeps_worker_marker() -> None:
    assert sweep_leftovers.WORKER_MARKER_ENV == WORKER_MARKER_ENV


def _pids_running(where: Path) -> list[int]:
    """The live processes a sweep's worker under `where` started (its marker in their environment)."""
    wanted = f"{WORKER_MARKER_ENV}={where}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX" and any(
                        v.startswith(wanted) for v in (entry / "environ").read_bytes().split(b"\0")):
                    found.append(int(entry.name))
    return found


@pytest.fixture
def killed_sweep(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], str]]:
    """A sweep killed (-9) while its test command, which installed the project from its worker
    tree, still runs: (repo, the user's env, the file the user's import should name)."""
    venv = make_venv(tmp_path / "venv")
    env = user_env(venv, tmp_path / "home")
    repo = editable_project(tmp_path / "repo", backend('''
        "pkg-editable.pth": (src + "\\n").encode(),'''), {})
    assert sh(INSTALL, repo, env).returncode == 0  # the user's own editable install of their checkout
    mine = str(repo / "src/pkg/__init__.py")
    mark = tmp_path / "installed"
    sweep = subprocess.Popen([sys.executable, "-m", "launcher", "mutation", "sweep", "src", "--workers", "1",
                              "--test-cmd", f"{INSTALL} && touch {mark} && sleep 300"], cwd=repo, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                             start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not mark.exists() and time.monotonic() < deadline and sweep.poll() is None:
            time.sleep(0.2)
        assert mark.exists(), "the sweep's test command never ran"
        os.killpg(sweep.pid, signal.SIGKILL)  # the launcher's group; its test command has its own
        sweep.wait()
        assert _pids_running(tmp_path), "the test command should outlive its launcher"
        assert sh(f"python -c '{IMPORT}'", tmp_path, env).stdout.strip() != mine  # re-pointed into a worker tree
        yield repo, env, mine
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sweep.pid, signal.SIGKILL)
        for pid in _pids_running(tmp_path):  # this test's own leftovers, should clean have missed them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_clean_all_kills_a_dead_sweeps_test_command_and_puts_the_users_install_back(
    killed_sweep: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    repo, env, mine = killed_sweep
    done = launcher_in(repo, env, "clean", "--all")
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert _pids_running(tmp_path) == [], said
    assert sh(f"python -c '{IMPORT}'", tmp_path, env).stdout.strip() == mine, said
    assert "dead launcher left running" in said and "its test commands" in said
    assert "put back the editable install of pkg-0.1" in said
    assert "removed sweep worktree" in said
    assert not (repo / ".launcher" / "mutation-guards").exists()


def test_a_record_whose_worker_trees_were_deleted_by_hand_is_still_put_back(
    killed_sweep: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    repo, env, mine = killed_sweep
    record = next((repo / ".launcher" / "mutation-guards").glob("*/site-installs.json"))
    sweep_dir = Path(json.loads(record.read_text())["root"])
    assert sweep_dir.name == record.parent.name and sweep_dir.is_dir()
    shutil.rmtree(sweep_dir)  # the user deleted the sweep's worker trees by hand
    done = launcher_in(repo, env, "clean", "--all")
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert _pids_running(tmp_path) == [], said  # found by its worker marker, its tree gone
    assert sh(f"python -c '{IMPORT}'", tmp_path, env).stdout.strip() == mine, said
    assert not (repo / ".launcher" / "mutation-guards").exists()
