"""A shard run (`run --shard I/N --no-merge --export DIR`) stopped while it writes its export:

- Ctrl-C names `launcher resume RUN` (never `launcher run ...` again: a new run, every agent
  again), `--json` prints the run's report, and the run is `interrupted` (`status --exit-status`
  130), never `succeeded` (0) without the export it asked for; the resume writes it;
- killed with -9, the run shows `interrupted` too, and the half-written bundle the writer left in
  DIR is removed by the next export (`resume`) or by `launcher clean RUN`: CI never uploads it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from helpers import git, git_on_path, launcher_cli, start_launcher, wait_for_file

MANIFEST = "launcher-export.json"


def _slow_bundle_git(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose `git bundle create` says it started (the marker), then takes 3 s."""
    marker = tmp_path / "bundling"
    slow = git_on_path(tmp_path, f'case " $* " in *" bundle create "*) touch {marker}; sleep 3;; esac')
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**env, **slow}, marker


def _start_shard_run(repo: Path, tmp_path: Path, out: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]}))
    env, marker = _slow_bundle_git(tmp_path)
    proc = start_launcher(repo, "run", str(plan), "--quiet", "--shard", "1/1", "--no-merge", "--export", str(out),
                          *extra, env=env)
    wait_for_file(marker, proc)
    time.sleep(0.3)
    return proc, marker


def _run_id(repo: Path) -> str:
    return str(json.loads(launcher_cli(repo, "runs", "--json").stdout)[0]["run_id"])


def test_ctrl_c_while_the_export_is_written_names_resume_and_the_run_is_not_succeeded(
    repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "exp"
    proc, _ = _start_shard_run(repo, tmp_path, out, "--json")
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    stdout, stderr = proc.communicate(timeout=60)
    run_id = _run_id(repo)

    assert proc.returncode == 130, stderr
    assert f"`launcher resume {run_id}` continues" in stderr
    assert "again to finish" not in stderr and "launcher run " not in stderr  # a new run: agents again
    report = json.loads(stdout)  # --json: the run's report, as for any stopped run
    assert (report["run_id"], report["status"]) == (run_id, "interrupted")
    assert not (out / MANIFEST).exists()
    status = launcher_cli(repo, "status", run_id, "--exit-status", "--json")
    assert status.returncode == 130  # not 0: the export it asked for is not there
    assert f"`launcher resume {run_id}` writes it" in json.loads(status.stdout)["message"]

    resumed = launcher_cli(repo, "resume", run_id, "--quiet")  # as the line says
    assert resumed.returncode == 0, resumed.stderr
    assert [t["id"] for t in json.loads((out / MANIFEST).read_text())["tasks"]] == ["a"]
    assert launcher_cli(repo, "status", run_id, "--exit-status").returncode == 0
    assert len(json.loads(launcher_cli(repo, "runs", "--json").stdout)) == 1  # no second run


def _killed_while_bundling(repo: Path, tmp_path: Path, out: Path) -> str:
    proc, _ = _start_shard_run(repo, tmp_path, out)
    os.kill(proc.pid, signal.SIGKILL)  # the launcher only: its git goes on writing the bundle
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while not any(p.name.endswith(".partial") for p in out.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    assert [p.name for p in out.iterdir() if p.name.endswith(".partial")], list(out.iterdir())
    return _run_id(repo)


def test_a_launcher_killed_while_bundling_leaves_the_run_interrupted_and_resume_removes_the_partial_bundle(
    repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "exp"
    run_id = _killed_while_bundling(repo, tmp_path, out)
    assert launcher_cli(repo, "status", run_id, "--exit-status").returncode == 130

    resumed = launcher_cli(repo, "resume", run_id, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in out.iterdir()) == ["branches.bundle", MANIFEST]  # nothing half-written
    git(repo, "bundle", "verify", str(out / "branches.bundle"))


def test_clean_of_the_run_removes_the_half_written_bundle_a_killed_export_left(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    run_id = _killed_while_bundling(repo, tmp_path, out)
    cleaned = launcher_cli(repo, "clean", run_id, "--force")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "half-written" in cleaned.stdout
    assert [p.name for p in out.iterdir()] == []
